package kyc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// businessClient calls an Anchor Platform business server's customer callback API
// (anchor-platform-compat.md section 5).
type businessClient struct {
	base   *url.URL
	client *http.Client
	signer callback.Signer
}

func newBusinessClient(cfg BusinessServer, client *http.Client) (*businessClient, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("kyc: business base_url %q is not an http(s) URL", cfg.BaseURL)
	}
	if client == nil {
		// The operator configured this URL (it is usually on a private network), so every
		// address is allowed; the client still refuses redirects and proxies and bounds time.
		client = callback.NewHTTPClient(callback.ClientOptions{
			Guard:   callback.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}},
			Timeout: cfg.Timeout,
		})
	}
	return &businessClient{base: u, client: client, signer: cfg.Auth.Signer()}, nil
}

// do sends one request and decodes a GET /customer-shaped answer into out (may be nil).
// Business errors map as Anchor Platform maps them: 400/422 bad request (shown to the
// wallet), 404 not found, anything else unavailable.
func (b *businessClient) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte, out any) error {
	u := *b.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if err := b.signer.Sign(req.Header, callback.SignInput{URL: &u, Body: body, Now: time.Now()}); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		// The url.Error text holds the query (account, memo): keep only the cause, since
		// this error is logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: read answer: %v", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if out != nil && len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("%w: %s %s: answer is not JSON", ErrUnavailable, method, path)
			}
		}
		return nil
	case resp.StatusCode == http.StatusBadRequest, resp.StatusCode == http.StatusUnprocessableEntity:
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		if e.Error == "" {
			e.Error = "invalid request"
		}
		return badRequest(e.Error)
	case resp.StatusCode == http.StatusNotFound:
		return ErrNotFound
	default:
		return fmt.Errorf("%w: %s %s answered %d", ErrUnavailable, method, path, resp.StatusCode)
	}
}

// get calls GET /customer with the non-empty parameters.
func (b *businessClient) get(ctx context.Context, q Query) (Customer, error) {
	var c Customer
	if err := b.getInto(ctx, q, nil, &c, &c); err != nil {
		return Customer{}, err
	}
	return c, nil
}

// profile calls GET /customer asking for the customer's SEP-9 text values as well
// (include_values=true, a vaspgate addition to Anchor Platform's callback API): the answer's
// additive "values" object, {"first_name": "…", …}, is read for the Travel Rule (names to
// match, IVMS101 fields to return) and never passed on; a server that ignores the parameter
// answers no values.
func (b *businessClient) profile(ctx context.Context, q Query) (Customer, map[string]string, error) {
	var out struct {
		Customer
		Values map[string]string `json:"values"`
	}
	if err := b.getInto(ctx, q, url.Values{"include_values": {"true"}}, &out, &out.Customer); err != nil {
		return Customer{}, nil, err
	}
	return out.Customer, out.Values, nil
}

// getInto calls GET /customer with the non-empty parameters of q and extra, decodes the
// answer into out and checks the status of c, the customer within out.
func (b *businessClient) getInto(ctx context.Context, q Query, extra url.Values, out any, c *Customer) error {
	v := url.Values{}
	for k, x := range map[string]string{"id": q.ID, "account": q.Account, "memo": q.Memo, "type": q.Type,
		"transaction_id": q.TransactionID, "lang": q.Lang} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if q.Memo != "" {
		v.Set("memo_type", "id")
	}
	for k, x := range extra {
		v[k] = x
	}
	if err := b.do(ctx, http.MethodGet, "/customer", v, "", nil, out); err != nil {
		return err
	}
	if !validStatus(c.Status) {
		return fmt.Errorf("%w: result from the business server is invalid (status %q)", ErrUnavailable, c.Status)
	}
	c.Type = q.Type
	return nil
}

// put calls PUT /customer: JSON, or multipart/form-data (text parts first) when binary
// fields are present.
func (b *businessClient) put(ctx context.Context, text map[string]string, binary map[string]Upload) (Customer, error) {
	var body []byte
	var ct string
	if len(binary) == 0 {
		var err error
		if body, err = json.Marshal(text); err != nil {
			return Customer{}, fmt.Errorf("kyc: encode business request: %w", err)
		}
		ct = "application/json"
	} else {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		keys := make([]string, 0, len(text))
		for k := range text {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := mw.WriteField(k, text[k]); err != nil {
				return Customer{}, fmt.Errorf("kyc: encode business request: %w", err)
			}
		}
		names := make([]string, 0, len(binary))
		for k := range binary {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, k, k))
			h.Set("Content-Type", binary[k].ContentType)
			w, err := mw.CreatePart(h)
			if err == nil {
				_, err = w.Write(binary[k].Data)
			}
			if err != nil {
				return Customer{}, fmt.Errorf("kyc: encode business request: %w", err)
			}
		}
		if err := mw.Close(); err != nil {
			return Customer{}, fmt.Errorf("kyc: encode business request: %w", err)
		}
		body, ct = buf.Bytes(), mw.FormDataContentType()
	}
	var c Customer
	if err := b.do(ctx, http.MethodPut, "/customer", nil, ct, body, &c); err != nil {
		return Customer{}, err
	}
	return c, nil
}

// delete calls DELETE /customer/{id}.
func (b *businessClient) delete(ctx context.Context, id string) error {
	return b.do(ctx, http.MethodDelete, "/customer/"+url.PathEscape(id), nil, "", nil, nil)
}

// put forwards a PUT /customer to the business server, records the owner of the id
// it answers with, and, when its answer carries a status, records that status (a callback
// follows only if it changed).
func (s business) put(ctx context.Context, c wallet.Identity, r PutRequest) (string, error) {
	t, err := s.resolve(ctx, s.db, c, r.ID, r.Account, r.Memo, r.TransactionID, r.Type)
	if err != nil {
		return "", err
	}
	text := map[string]string{}
	for k, v := range r.Fields {
		text[k] = v
	}
	for k, v := range r.Verifications {
		text[k+"_verification"] = v
	}
	if t.id != "" {
		text["id"] = t.id
	} else {
		text["account"] = t.owner.Account
		if t.owner.Memo != "" {
			text["memo"], text["memo_type"] = t.owner.Memo, "id"
		}
	}
	if r.Type != "" {
		text["type"] = r.Type
	}
	if t.txID != "" {
		text["transaction_id"] = t.txID
	}
	binary := map[string]Upload{}
	for k, v := range r.Binary {
		binary[k] = v
	}
	for name, fid := range r.FileIDs {
		u, err := s.readFile(ctx, s.db, c, fid, t.id)
		if err != nil {
			return "", err
		}
		binary[name] = u
	}
	cust, err := s.client.put(ctx, text, binary)
	if err != nil {
		return "", err
	}
	if cust.ID == "" {
		cust.ID = t.id
	}
	if cust.ID == "" {
		return "", fmt.Errorf("%w: business server answered PUT /customer without an id", ErrUnavailable)
	}
	if err := s.adopt(ctx, c, t, &cust); err != nil {
		return "", err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, fid := range r.FileIDs {
			if err := attachFile(ctx, tx, fid, cust.ID); err != nil {
				return err
			}
		}
		if !validStatus(cust.Status) {
			return nil
		}
		cust.Type = r.Type
		_, err := s.record(ctx, tx, cust, t.txID, false)
		return err
	})
	if err != nil {
		return "", err
	}
	return cust.ID, nil
}
