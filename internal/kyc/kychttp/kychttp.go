// Package kychttp serves SEP-12 (/sep12/customer…) on the public listener and the operator
// decision API (/admin/v1/customers/…) on the admin listener. It only decodes requests,
// calls kyc.Service and encodes answers.
package kychttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// maxTextBody bounds request bodies without files.
const maxTextBody = 1 << 20

type handler struct {
	svc *kyc.Service
	log *slog.Logger
}

// Register adds the SEP-12 routes under /sep12 to public, each behind auth (the SEP-10
// middleware, which must reject a request without a valid token before its body is read).
// OPTIONS preflights are answered without a token.
func Register(public *http.ServeMux, svc *kyc.Service, auth func(http.Handler) http.Handler) {
	h := &handler{svc: svc, log: slog.Default()}
	route := func(pattern string, f http.HandlerFunc) { public.Handle(pattern, server.CORS(auth(f))) }
	route("GET /sep12/customer", h.get)
	route("PUT /sep12/customer", h.put)
	route("PUT /sep12/customer/verification", h.verify)
	route("DELETE /sep12/customer/{account}", h.delete)
	route("PUT /sep12/customer/callback", h.callback)
	route("POST /sep12/customer/files", h.upload)
	route("GET /sep12/customer/files", h.files)
	for _, p := range []string{"/sep12/customer", "/sep12/customer/verification", "/sep12/customer/{account}",
		"/sep12/customer/callback", "/sep12/customer/files"} {
		public.Handle("OPTIONS "+p, server.Preflight)
	}
}

// Refuse is SEP-12's answer to a request without a valid SEP-10 token: its tables give 401
// for a client that is not authenticated properly, whether the token is missing or not
// valid. Pass it to stellarhttp's RequireWith for the SEP-12 routes.
func Refuse(w http.ResponseWriter, _ *http.Request, invalid bool) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	msg := "a SEP-10 token is required (Authorization: Bearer <JWT>)"
	if invalid {
		msg = "the SEP-10 token is not valid"
	}
	httpjson.Error(w, http.StatusUnauthorized, "unauthorized", msg)
}

// caller reads the SEP-10 identity the auth middleware stored.
func caller(w http.ResponseWriter, r *http.Request) (wallet.Identity, bool) {
	id, ok := stellar.IdentityFrom(r.Context())
	if !ok {
		httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "authentication required")
		return wallet.Identity{}, false
	}
	return wallet.Identity{Account: id.Account, Memo: id.Memo, Muxed: id.Muxed, ClientDomain: id.ClientDomain}, true
}

// fail maps service errors to answers; notFound is the 404 message.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error, notFound string) {
	var bad *kyc.BadRequestError
	var tooLarge *httpjson.TooLargeError
	var mbe *http.MaxBytesError
	switch {
	case httpjson.TextRefusal(w, err), limit.Refuse(w, err):
	case errors.Is(err, kyc.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", notFound)
	case errors.As(err, &bad):
		httpjson.Error(w, http.StatusBadRequest, "bad_request", bad.Msg)
	case errors.As(err, &tooLarge), errors.As(err, &mbe):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", "request body is too large")
	case errors.Is(err, kyc.ErrUnavailable):
		h.log.WarnContext(r.Context(), "kyc: customer back end unavailable", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "customer back end unavailable")
	default:
		h.log.ErrorContext(r.Context(), "kyc: request failed", "path", r.URL.Path, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "internal", "internal server error")
	}
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	cust, err := h.svc.Get(r.Context(), c, kyc.Query{ID: q.Get("id"), Account: q.Get("account"), Memo: q.Get("memo"),
		Type: q.Get("type"), TransactionID: q.Get("transaction_id"), Lang: q.Get("lang")})
	if err != nil {
		h.fail(w, r, err, "customer not found")
		return
	}
	httpjson.Write(w, http.StatusOK, cust)
}

func (h *handler) put(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	text, bin, err := readBody(r, h.svc.MaxFileSize()+maxTextBody, false)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	req := kyc.PutRequest{Fields: map[string]string{}, Binary: bin, FileIDs: map[string]string{},
		Verifications: map[string]string{}}
	for k, v := range text {
		switch {
		case k == "id":
			req.ID = v
		case k == "account":
			req.Account = v
		case k == "memo":
			req.Memo = v
		case k == "memo_type":
			req.MemoType = v
		case k == "type":
			req.Type = v
		case k == "transaction_id":
			req.TransactionID = v
		case k == "lang":
		case strings.HasSuffix(k, "_file_id"):
			req.FileIDs[strings.TrimSuffix(k, "_file_id")] = v
		case strings.HasSuffix(k, "_verification"):
			req.Verifications[strings.TrimSuffix(k, "_verification")] = v
		default:
			req.Fields[k] = v
		}
	}
	id, err := h.svc.Put(r.Context(), c, req)
	if err != nil {
		h.fail(w, r, err, "customer with id not found")
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]string{"id": id})
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	text, _, err := readBody(r, maxTextBody, false)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	codes := map[string]string{}
	for k, v := range text {
		if f, ok := strings.CutSuffix(k, "_verification"); ok {
			codes[f] = v
		}
	}
	cust, err := h.svc.Verify(r.Context(), c, text["id"], text["type"], codes)
	if err != nil {
		h.fail(w, r, err, "customer with id not found")
		return
	}
	httpjson.Write(w, http.StatusOK, cust)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	text, _, err := readBody(r, maxTextBody, true)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	if err := h.svc.Delete(r.Context(), c, r.PathValue("account"), text["memo"]); err != nil {
		h.fail(w, r, err, "customer not found")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{})
}

func (h *handler) callback(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	text, _, err := readBody(r, maxTextBody, false)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	err = h.svc.SetCallback(r.Context(), c, kyc.CallbackRequest{ID: text["id"], Account: text["account"],
		Memo: text["memo"], URL: text["url"]})
	if err != nil {
		h.fail(w, r, err, "customer not found")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{})
}

func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		h.fail(w, r, &kyc.BadRequestError{Msg: "send the file as multipart/form-data with one file part"}, "")
		return
	}
	limit := h.svc.MaxFileSize()
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		h.fail(w, r, &kyc.BadRequestError{Msg: "body is not multipart/form-data"}, "")
		return
	}
	var up *kyc.Upload
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			h.fail(w, r, bodyError(err), "")
			return
		}
		if p.FormName() != "file" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(p, limit+1))
		if err != nil {
			h.fail(w, r, bodyError(err), "")
			return
		}
		if int64(len(data)) > limit {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("file is larger than %d bytes", limit))
			return
		}
		ctype := p.Header.Get("Content-Type")
		if err := httpjson.ValidText("Content-Type", ctype); err != nil {
			h.fail(w, r, err, "")
			return
		}
		up = &kyc.Upload{ContentType: ctype, Data: data}
		break
	}
	if up == nil {
		h.fail(w, r, &kyc.BadRequestError{Msg: "no file part"}, "")
		return
	}
	f, err := h.svc.UploadFile(r.Context(), c, *up)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	httpjson.Write(w, http.StatusOK, f)
}

func (h *handler) files(w http.ResponseWriter, r *http.Request) {
	c, ok := caller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	fs, err := h.svc.Files(r.Context(), c, q.Get("file_id"), q.Get("customer_id"))
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"files": fs})
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return &kyc.BadRequestError{Msg: "body could not be read"}
}

// readBody decodes a JSON, form or multipart body into text fields and binary parts. An
// empty body is accepted only when emptyOK.
func readBody(r *http.Request, limit int64, emptyOK bool) (map[string]string, map[string]kyc.Upload, error) {
	text := map[string]string{}
	bin := map[string]kyc.Upload{}
	raw := r.Header.Get("Content-Type")
	ct, _, _ := mime.ParseMediaType(raw)
	r.Body = http.MaxBytesReader(nil, r.Body, limit)
	switch ct {
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, nil, &kyc.BadRequestError{Msg: "body is not multipart/form-data"}
		}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, nil, bodyError(err)
			}
			data, err := io.ReadAll(p)
			if err != nil {
				return nil, nil, bodyError(err)
			}
			// A binary part is one with a file name or a non-text content type (wallet SDKs
			// send Buffers as application/octet-stream parts without a file name).
			pct := p.Header.Get("Content-Type")
			if err := httpjson.ValidText(p.FormName(), p.FormName()); err != nil {
				return nil, nil, err
			}
			if p.FileName() != "" || (pct != "" && !strings.HasPrefix(pct, "text/plain")) {
				if err := httpjson.ValidText(p.FormName()+" Content-Type", pct); err != nil {
					return nil, nil, err
				}
				bin[p.FormName()] = kyc.Upload{ContentType: pct, Data: data}
			} else {
				if err := httpjson.ValidText(p.FormName(), string(data)); err != nil {
					return nil, nil, err
				}
				text[p.FormName()] = string(data)
			}
		}
		return text, bin, nil
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, nil, bodyError(err)
		}
		if err := httpjson.ValidValues(r.PostForm); err != nil {
			return nil, nil, err
		}
		for k, v := range r.PostForm {
			if len(v) > 0 {
				text[k] = v[0]
			}
		}
		return text, bin, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, bodyError(err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if emptyOK {
			return text, bin, nil
		}
		return nil, nil, &kyc.BadRequestError{Msg: "request body is empty"}
	}
	if ct != "" && ct != "application/json" {
		return nil, nil, &kyc.BadRequestError{Msg: "content type must be application/json, form or multipart"}
	}
	if err := httpjson.ValidJSON(body); err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, nil, &kyc.BadRequestError{Msg: "body is not a JSON object"}
	}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			text[k] = x
		case json.Number:
			text[k] = x.String()
		case bool:
			text[k] = strconv.FormatBool(x)
		case nil:
		default:
			return nil, nil, &kyc.BadRequestError{Msg: fmt.Sprintf("field %s must be a string", k)}
		}
	}
	return text, bin, nil
}

// RegisterAdmin adds the operator routes to adminAPI (mounted behind the admin token):
//
//	GET /admin/v1/customers?status=&type=&after=&after_type=&limit=   builtin customers
//	GET /admin/v1/customers/{id}?type=                    the GET /customer body and type
//	GET /admin/v1/customers/{id}/fields/{name}            one field's value (builtin)
//	PUT /admin/v1/customers/{id}/status                   a decision (builtin)
func RegisterAdmin(adminAPI *http.ServeMux, svc *kyc.Service) {
	h := &handler{svc: svc, log: slog.Default()}
	adminAPI.HandleFunc("GET /admin/v1/customers", h.adminList)
	adminAPI.HandleFunc("GET /admin/v1/customers/{id}", h.adminGet)
	adminAPI.HandleFunc("GET /admin/v1/customers/{id}/fields/{name}", h.adminField)
	adminAPI.HandleFunc("PUT /admin/v1/customers/{id}/status", h.decide)
}

func (h *handler) adminList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	list, err := h.svc.List(r.Context(), kyc.ListQuery{Status: q.Get("status"), Type: q.Get("type"), After: q.Get("after"),
		AfterType: q.Get("after_type"), Limit: limit})
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"customers": list})
}

// adminField answers one stored value with its content type. Personal data: it is sent
// to the operator and never logged or cached.
func (h *handler) adminField(w http.ResponseWriter, r *http.Request) {
	v, ct, err := h.svc.FieldValue(r.Context(), r.PathValue("id"), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err, "field not found")
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	_, _ = w.Write(v)
}

func (h *handler) decide(w http.ResponseWriter, r *http.Request) {
	var d kyc.Decision
	if err := httpjson.Decode(r, maxTextBody, &d); err != nil {
		var tl *httpjson.TooLargeError
		var te *httpjson.TextError
		if errors.As(err, &tl) || errors.As(err, &te) {
			h.fail(w, r, err, "")
			return
		}
		h.fail(w, r, &kyc.BadRequestError{Msg: err.Error()}, "")
		return
	}
	c, err := h.svc.Decide(r.Context(), r.PathValue("id"), d)
	if err != nil {
		h.fail(w, r, err, "customer not found")
		return
	}
	httpjson.Write(w, http.StatusOK, adminCustomer(c))
}

func (h *handler) adminGet(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.Fetch(r.Context(), kyc.Query{ID: r.PathValue("id"), Type: r.URL.Query().Get("type")})
	if err != nil {
		h.fail(w, r, err, "customer not found")
		return
	}
	httpjson.Write(w, http.StatusOK, adminCustomer(c))
}

// adminCustomer is the GET /customer body with its type, for operators.
func adminCustomer(c kyc.Customer) any {
	return struct {
		kyc.Customer
		Type string `json:"type"`
	}{c, c.Type}
}
