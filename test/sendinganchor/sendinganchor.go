// Package sendinganchor is a SEP-31 sending anchor for tests, written from the public
// specifications (SEP-1, SEP-10, SEP-12, SEP-31 v3, SEP-38), not from vaspgate's code: it
// reads the receiving anchor's stellar.toml, signs a real SEP-10 challenge with the Stellar
// Go SDK after checking it as a client must, registers senders and receivers through SEP-12,
// asks SEP-38 for firm quotes, creates SEP-31 transactions and registers callback URLs, and
// receives the receiving anchor's signed callbacks (Receiver), verifying each signature as
// the SEPs describe. It keeps its own wire types so that a change in vaspgate's shapes shows
// up as a failing test instead of following silently.
package sendinganchor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"
)

// Options say which receiving anchor to talk to and as whom.
type Options struct {
	// Home is the receiving anchor's home domain as a URL (scheme and host), where
	// /.well-known/stellar.toml is read.
	Home string
	// Dial maps a host:port named in stellar.toml to the address actually dialled, so that a
	// test can use a home domain such as anchor.test while the listener is on loopback.
	// Hosts not in the map are dialled as named.
	Dial map[string]string
	// Key is the sending anchor's SEP-10 account; a random one when nil.
	Key *keypair.Full
}

// TOML is the part of the receiving anchor's stellar.toml a sending anchor uses.
type TOML struct {
	NetworkPassphrase   string `toml:"NETWORK_PASSPHRASE"`
	SigningKey          string `toml:"SIGNING_KEY"`
	WebAuthEndpoint     string `toml:"WEB_AUTH_ENDPOINT"`
	KYCServer           string `toml:"KYC_SERVER"`
	DirectPaymentServer string `toml:"DIRECT_PAYMENT_SERVER"`
	AnchorQuoteServer   string `toml:"ANCHOR_QUOTE_SERVER"`
}

// Anchor is one sending anchor talking to one receiving anchor.
type Anchor struct {
	// TOML is what the receiving anchor published.
	TOML  TOML
	Key   *keypair.Full
	home  *url.URL
	http  *http.Client
	token string
}

// Error is an answer with another status than the one expected.
type Error struct {
	Method, URL string
	Status      int
	Body        []byte
	// Code is the body's "error" field (customer_info_needed, …), Type its "type".
	Code, Type string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, bytes.TrimSpace(e.Body))
}

// StatusOf is the HTTP status of err when it is an *Error, else 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Connect reads the receiving anchor's stellar.toml and checks that it names every server a
// SEP-31 sending anchor needs (SEP-31 "Prerequisites": DIRECT_PAYMENT_SERVER, KYC_SERVER,
// WEB_AUTH_ENDPOINT, SIGNING_KEY).
func Connect(ctx context.Context, o Options) (*Anchor, error) {
	home, err := url.Parse(o.Home)
	if err != nil || home.Host == "" {
		return nil, fmt.Errorf("sendinganchor: home %q is not a URL", o.Home)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := o.Dial[addr]; ok {
			addr = to
		}
		return dialer.DialContext(ctx, network, addr)
	}}
	a := &Anchor{Key: o.Key, home: home, http: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		// A sending anchor follows no redirect with its token attached.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if a.Key == nil {
		a.Key = keypair.MustRandom()
	}
	_, body, err := a.send(ctx, "GET", home.Scheme+"://"+home.Host+"/.well-known/stellar.toml", "", nil, 200)
	if err != nil {
		return nil, fmt.Errorf("sendinganchor: stellar.toml: %w", err)
	}
	if _, err := toml.Decode(string(body), &a.TOML); err != nil {
		return nil, fmt.Errorf("sendinganchor: stellar.toml: %w", err)
	}
	for k, v := range map[string]string{"SIGNING_KEY": a.TOML.SigningKey, "WEB_AUTH_ENDPOINT": a.TOML.WebAuthEndpoint,
		"KYC_SERVER": a.TOML.KYCServer, "DIRECT_PAYMENT_SERVER": a.TOML.DirectPaymentServer, "NETWORK_PASSPHRASE": a.TOML.NetworkPassphrase} {
		if v == "" {
			return nil, fmt.Errorf("sendinganchor: stellar.toml has no %s", k)
		}
	}
	if _, err := keypair.ParseAddress(a.TOML.SigningKey); err != nil {
		return nil, fmt.Errorf("sendinganchor: SIGNING_KEY: %w", err)
	}
	return a, nil
}

// send makes one request; body is JSON-encoded when not nil. An answer other than want is an
// *Error.
func (a *Anchor) send(ctx context.Context, method, u, token string, body any, want int) (http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != want {
		e := &Error{Method: method, URL: u, Status: resp.StatusCode, Body: b}
		var m struct{ Error, Type string }
		if json.Unmarshal(b, &m) == nil {
			e.Code, e.Type = m.Error, m.Type
		}
		return resp.Header, b, e
	}
	return resp.Header, b, nil
}

// call is send with the SEP-10 token, decoding a JSON answer into out (when not nil).
func (a *Anchor) call(ctx context.Context, method, u string, body any, want int, out any) error {
	if a.token == "" {
		return errors.New("sendinganchor: not authenticated (call Authenticate first)")
	}
	_, b, err := a.send(ctx, method, u, a.token, body, want)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: answer is not the JSON expected: %w (%s)", method, u, err, b)
	}
	return nil
}

// Authenticate runs SEP-10: it fetches a challenge, checks it as SEP-10 tells a client to
// (signed by SIGNING_KEY, sequence 0, a manage data operation "<home domain> auth" for this
// account, the web_auth_domain of WEB_AUTH_ENDPOINT, time bounds), signs it and exchanges it
// for a token.
func (a *Anchor) Authenticate(ctx context.Context) error {
	_, b, err := a.send(ctx, "GET", a.TOML.WebAuthEndpoint+"?account="+url.QueryEscape(a.Key.Address()), "", nil, 200)
	if err != nil {
		return fmt.Errorf("sendinganchor: SEP-10 challenge: %w", err)
	}
	var ch struct {
		Transaction       string `json:"transaction"`
		NetworkPassphrase string `json:"network_passphrase"`
	}
	if err := json.Unmarshal(b, &ch); err != nil || ch.Transaction == "" {
		return fmt.Errorf("sendinganchor: SEP-10 challenge: not a challenge: %s", b)
	}
	if ch.NetworkPassphrase != "" && ch.NetworkPassphrase != a.TOML.NetworkPassphrase {
		return fmt.Errorf("sendinganchor: SEP-10 challenge for network %q, stellar.toml says %q", ch.NetworkPassphrase, a.TOML.NetworkPassphrase)
	}
	authURL, err := url.Parse(a.TOML.WebAuthEndpoint)
	if err != nil {
		return fmt.Errorf("sendinganchor: WEB_AUTH_ENDPOINT: %w", err)
	}
	tx, client, _, _, err := txnbuild.ReadChallengeTx(ch.Transaction, a.TOML.SigningKey, a.TOML.NetworkPassphrase,
		authURL.Host, []string{a.home.Host})
	if err != nil {
		return fmt.Errorf("sendinganchor: SEP-10 challenge does not verify: %w", err)
	}
	if client != a.Key.Address() {
		return fmt.Errorf("sendinganchor: SEP-10 challenge is for %s, not %s", client, a.Key.Address())
	}
	signed, err := tx.Sign(a.TOML.NetworkPassphrase, a.Key)
	if err != nil {
		return fmt.Errorf("sendinganchor: sign the challenge: %w", err)
	}
	xdr, err := signed.Base64()
	if err != nil {
		return fmt.Errorf("sendinganchor: sign the challenge: %w", err)
	}
	_, b, err = a.send(ctx, "POST", a.TOML.WebAuthEndpoint, "", map[string]string{"transaction": xdr}, 200)
	if err != nil {
		return fmt.Errorf("sendinganchor: SEP-10 token: %w", err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
		return fmt.Errorf("sendinganchor: SEP-10 token: no token in %s", b)
	}
	a.token = tok.Token
	return nil
}

// Token is the SEP-10 token (empty before Authenticate).
func (a *Anchor) Token() string { return a.token }

// Customer is SEP-12's GET /customer answer.
type Customer struct {
	ID             string                     `json:"id"`
	Status         string                     `json:"status"`
	Message        string                     `json:"message"`
	Fields         map[string]json.RawMessage `json:"fields"`
	ProvidedFields map[string]json.RawMessage `json:"provided_fields"`
}

// PutCustomer registers or updates a customer (SEP-12 PUT /customer, JSON): fields are SEP-9
// fields plus "type" and, for an update, "id". A new customer (no id, no memo given) gets a
// random hash memo of its own: one sending anchor signs in as one account, and SEP-12 tells
// the people it registers apart by memo. It returns the customer's id (202).
func (a *Anchor) PutCustomer(ctx context.Context, fields map[string]string) (string, error) {
	if fields["id"] == "" && fields["memo"] == "" {
		memo := make([]byte, 32)
		if _, err := rand.Read(memo); err != nil {
			return "", err
		}
		withMemo := maps.Clone(fields)
		withMemo["memo"], withMemo["memo_type"] = base64.StdEncoding.EncodeToString(memo), "hash"
		fields = withMemo
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := a.call(ctx, "PUT", a.TOML.KYCServer+"/customer", fields, 202, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", errors.New("sendinganchor: PUT /customer answered without an id")
	}
	return out.ID, nil
}

// GetCustomer is SEP-12 GET /customer?id=&type=.
func (a *Anchor) GetCustomer(ctx context.Context, id, typ string) (Customer, error) {
	var c Customer
	q := url.Values{"type": {typ}}
	if id != "" {
		q.Set("id", id)
	}
	err := a.call(ctx, "GET", a.TOML.KYCServer+"/customer?"+q.Encode(), nil, 200, &c)
	return c, err
}

// PutCustomerCallback registers the URL where the receiving anchor posts the customer's
// status changes (SEP-12 PUT /customer/callback).
func (a *Anchor) PutCustomerCallback(ctx context.Context, id, callbackURL string) error {
	return a.call(ctx, "PUT", a.TOML.KYCServer+"/customer/callback", map[string]string{"id": id, "url": callbackURL}, 200, nil)
}

// SEP12Types are the SEP-12 customer types a role needs (SEP-31 GET /info "sep12").
type SEP12Types struct {
	Types map[string]struct {
		Description string `json:"description"`
	} `json:"types"`
}

// ReceiveAsset is one asset of SEP-31 GET /info.
type ReceiveAsset struct {
	Enabled         bool     `json:"enabled"`
	QuotesSupported bool     `json:"quotes_supported"`
	QuotesRequired  bool     `json:"quotes_required"`
	MinAmount       *float64 `json:"min_amount"`
	MaxAmount       *float64 `json:"max_amount"`
	FeeFixed        *float64 `json:"fee_fixed"`
	FeePercent      *float64 `json:"fee_percent"`
	FundingMethods  []string `json:"funding_methods"`
	SEP12           struct {
		Sender   SEP12Types `json:"sender"`
		Receiver SEP12Types `json:"receiver"`
	} `json:"sep12"`
}

// Info is SEP-31 GET /info (no authentication).
func (a *Anchor) Info(ctx context.Context) (map[string]ReceiveAsset, error) {
	_, b, err := a.send(ctx, "GET", a.TOML.DirectPaymentServer+"/info", "", nil, 200)
	if err != nil {
		return nil, err
	}
	var info struct {
		Receive map[string]ReceiveAsset `json:"receive"`
	}
	if err := json.Unmarshal(b, &info); err != nil || info.Receive == nil {
		return nil, fmt.Errorf("sendinganchor: SEP-31 /info has no receive object: %s", b)
	}
	return info.Receive, nil
}

// QuoteRequest is SEP-38 POST /quote.
type QuoteRequest struct {
	SellAsset         string `json:"sell_asset"`
	BuyAsset          string `json:"buy_asset"`
	SellAmount        string `json:"sell_amount,omitempty"`
	BuyAmount         string `json:"buy_amount,omitempty"`
	BuyDeliveryMethod string `json:"buy_delivery_method,omitempty"`
	CountryCode       string `json:"country_code,omitempty"`
	Context           string `json:"context"`
}

// Fee is SEP-38's fee object.
type Fee struct {
	Total   string `json:"total"`
	Asset   string `json:"asset"`
	Details []struct {
		Name   string `json:"name"`
		Amount string `json:"amount"`
	} `json:"details"`
}

// Quote is a SEP-38 firm quote.
type Quote struct {
	ID         string    `json:"id"`
	ExpiresAt  time.Time `json:"expires_at"`
	TotalPrice string    `json:"total_price"`
	Price      string    `json:"price"`
	SellAsset  string    `json:"sell_asset"`
	SellAmount string    `json:"sell_amount"`
	BuyAsset   string    `json:"buy_asset"`
	BuyAmount  string    `json:"buy_amount"`
	Fee        Fee       `json:"fee"`
}

// FirmQuote asks for a firm quote (SEP-38 POST /quote, 201) and checks that it is the quote
// asked for: an id, an expiry in the future, the assets and the amount given.
func (a *Anchor) FirmQuote(ctx context.Context, r QuoteRequest) (Quote, error) {
	if a.TOML.AnchorQuoteServer == "" {
		return Quote{}, errors.New("sendinganchor: stellar.toml has no ANCHOR_QUOTE_SERVER")
	}
	var q Quote
	if err := a.call(ctx, "POST", a.TOML.AnchorQuoteServer+"/quote", r, 201, &q); err != nil {
		return Quote{}, err
	}
	switch {
	case q.ID == "":
		return q, errors.New("sendinganchor: firm quote without an id")
	case !q.ExpiresAt.After(time.Now()):
		return q, fmt.Errorf("sendinganchor: firm quote %s already expired (%s)", q.ID, q.ExpiresAt)
	case q.SellAsset != r.SellAsset || q.BuyAsset != r.BuyAsset:
		return q, fmt.Errorf("sendinganchor: quote %s is %s → %s, asked %s → %s", q.ID, q.SellAsset, q.BuyAsset, r.SellAsset, r.BuyAsset)
	case r.SellAmount != "" && !sameNumber(q.SellAmount, r.SellAmount):
		return q, fmt.Errorf("sendinganchor: quote %s sells %s, asked %s", q.ID, q.SellAmount, r.SellAmount)
	}
	return q, nil
}

// GetQuote is SEP-38 GET /quote/{id}.
func (a *Anchor) GetQuote(ctx context.Context, id string) (Quote, error) {
	var q Quote
	err := a.call(ctx, "GET", a.TOML.AnchorQuoteServer+"/quote/"+url.PathEscape(id), nil, 200, &q)
	return q, err
}

// Payment is SEP-31 POST /transactions.
type Payment struct {
	Amount           string `json:"amount"`
	AssetCode        string `json:"asset_code"`
	AssetIssuer      string `json:"asset_issuer,omitempty"`
	DestinationAsset string `json:"destination_asset,omitempty"`
	QuoteID          string `json:"quote_id,omitempty"`
	SenderID         string `json:"sender_id,omitempty"`
	ReceiverID       string `json:"receiver_id,omitempty"`
	FundingMethod    string `json:"funding_method,omitempty"`
	Lang             string `json:"lang,omitempty"`
}

// Created is SEP-31's answer to POST /transactions: where and with which memo to pay.
type Created struct {
	ID               string `json:"id"`
	StellarAccountID string `json:"stellar_account_id"`
	StellarMemoType  string `json:"stellar_memo_type"`
	StellarMemo      string `json:"stellar_memo"`
}

// Send creates a SEP-31 transaction (POST /transactions, 201). A refusal is an *Error;
// customer_info_needed carries the SEP-12 type in Type.
func (a *Anchor) Send(ctx context.Context, p Payment) (Created, error) {
	var c Created
	if err := a.call(ctx, "POST", a.TOML.DirectPaymentServer+"/transactions", p, 201, &c); err != nil {
		return c, err
	}
	if c.ID == "" || c.StellarAccountID == "" {
		return c, fmt.Errorf("sendinganchor: POST /transactions answered without id or stellar_account_id: %+v", c)
	}
	if _, err := keypair.ParseAddress(c.StellarAccountID); err != nil {
		return c, fmt.Errorf("sendinganchor: stellar_account_id %q: %w", c.StellarAccountID, err)
	}
	return c, nil
}

// Transaction is SEP-31's transaction object.
type Transaction struct {
	ID                    string  `json:"id"`
	Status                string  `json:"status"`
	StatusETA             *int    `json:"status_eta"`
	StatusMessage         string  `json:"status_message"`
	AmountIn              string  `json:"amount_in"`
	AmountInAsset         string  `json:"amount_in_asset"`
	AmountOut             string  `json:"amount_out"`
	AmountOutAsset        string  `json:"amount_out_asset"`
	AmountFee             string  `json:"amount_fee"`
	AmountFeeAsset        string  `json:"amount_fee_asset"`
	QuoteID               string  `json:"quote_id"`
	StellarAccountID      string  `json:"stellar_account_id"`
	StellarMemoType       string  `json:"stellar_memo_type"`
	StellarMemo           string  `json:"stellar_memo"`
	StartedAt             string  `json:"started_at"`
	UpdatedAt             string  `json:"updated_at"`
	CompletedAt           *string `json:"completed_at"`
	StellarTransactionID  string  `json:"stellar_transaction_id"`
	ExternalTransactionID string  `json:"external_transaction_id"`
	Refunded              bool    `json:"refunded"`
}

// Transaction is SEP-31 GET /transactions/{id}.
func (a *Anchor) Transaction(ctx context.Context, id string) (Transaction, error) {
	var out struct {
		Transaction Transaction `json:"transaction"`
	}
	err := a.call(ctx, "GET", a.TOML.DirectPaymentServer+"/transactions/"+url.PathEscape(id), nil, 200, &out)
	return out.Transaction, err
}

// PutTransactionCallback registers the URL where the receiving anchor posts the
// transaction's status changes (SEP-31 PUT /transactions/{id}/callback, 204).
func (a *Anchor) PutTransactionCallback(ctx context.Context, id, callbackURL string) error {
	return a.call(ctx, "PUT", a.TOML.DirectPaymentServer+"/transactions/"+url.PathEscape(id)+"/callback",
		map[string]string{"url": callbackURL}, 204, nil)
}

// sameNumber compares two decimal strings as numbers ("100" and "100.00").
func sameNumber(a, b string) bool {
	trim := func(s string) string {
		s = strings.TrimLeft(s, "0")
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		if s == "" || s[0] == '.' {
			s = "0" + s
		}
		return s
	}
	return trim(a) == trim(b)
}
