package testkit

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
)

// Business is an Anchor Platform business server (anchor-platform-compat.md section 5): its
// customer API (GET and PUT /customer, DELETE /customer/{id}) keeps customers in memory and
// POST /event records business events. It records every request (Requests, Last). With
// RequireAuth set, a request without the configured credentials is answered 401 and changes
// nothing.
//
// A customer set with SetCustomer is answered as set. A customer made by PUT /customer or
// SetFields is answered from its fields by this server's rule: it needs first_name,
// last_name and email_address (NEEDS_INFO naming the missing ones), is REJECTED (message
// "sanctions") when last_name is "Rejected", else PROCESSING. A PUT with email_address "bad"
// is refused 400 with a message, one with "unprocessable" 422 without one.
type Business struct {
	URL string

	unavailable atomic.Bool
	onGet       atomic.Pointer[func()]
	mu          sync.Mutex
	auth        callback.Auth
	idOnly      bool
	customers   map[string]*businessCustomer // by id
	owners      map[string]string            // account:memo -> id
	next        int
	requests    []Request
	events      []json.RawMessage
	changed     chan struct{}
}

// businessCustomer is one customer the business server keeps.
type businessCustomer struct {
	account, memo string
	set           *kyc.Customer     // the answer SetCustomer fixed; nil: from the fields
	values        map[string]string // SEP-9 values answered on include_values=true (SetValues)
	fields        map[string]string // text fields received
	files         map[string]int    // binary fields received: size in bytes
}

// Request is one request the business server received. Body holds a JSON object's string
// values or a multipart form's text fields.
type Request struct {
	Method, Path string
	Query        url.Values
	Body         map[string]string
	ContentType  string
}

// NewBusiness starts a business server.
func NewBusiness(t testing.TB) *Business {
	b := &Business{customers: map[string]*businessCustomer{}, owners: map[string]string{}, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(srv.Close)
	b.URL = srv.URL
	return b
}

// SetCustomer sets (or replaces) a customer and the account and memo it belongs to.
func (b *Business) SetCustomer(c kyc.Customer, account, memo string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.store(c.ID, &businessCustomer{account: account, memo: memo, set: &c, fields: map[string]string{}, files: map[string]int{}})
}

// SetFields sets (or replaces) a customer answered from its fields, as if made by PUT
// /customer: a customer the business has that vaspgate never saw.
func (b *Business) SetFields(id, account, memo string, fields map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := map[string]string{}
	for k, v := range fields {
		f[k] = v
	}
	b.store(id, &businessCustomer{account: account, memo: memo, fields: f, files: map[string]int{}})
}

// SetOwner gives customer id to another account and memo (a business server that hands one
// identity's customer to another).
func (b *Business) SetOwner(id, account, memo string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.customers[id]; c != nil {
		c.account, c.memo = account, memo
		b.store(id, c)
	}
}

// SetValues gives customer id the SEP-9 values GET /customer answers (as "values") when
// asked with include_values=true, vaspgate's addition to Anchor Platform's callback API for
// the Travel Rule; a customer without values is answered as an unmodified Anchor Platform
// business server does.
func (b *Business) SetValues(id string, values map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.customers[id]; c != nil {
		c.values = values
	}
}

// Files returns the sizes of the binary fields customer id sent, by field.
func (b *Business) Files(id string) map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	if c := b.customers[id]; c != nil {
		for k, v := range c.files {
			out[k] = v
		}
	}
	return out
}

// store keeps c under id and makes it its account and memo's customer. b.mu is held.
func (b *Business) store(id string, c *businessCustomer) {
	for k, owner := range b.owners {
		if owner == id {
			delete(b.owners, k)
		}
	}
	b.customers[id] = c
	b.owners[c.account+":"+c.memo] = id
}

// RequireAuth makes the server check every request's credentials as Anchor Platform's
// callback API does for a: the X-Api-Key header for AuthAPIKey, an HS256 bearer JWT with
// exp and iat for AuthJWT, nothing for AuthNone.
func (b *Business) RequireAuth(a callback.Auth) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.auth = a
}

// SetIDOnly makes PUT /customer answer 202 with only {"id"} (older business servers).
func (b *Business) SetIDOnly(v bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.idOnly = v
}

// OnGet runs fn (once) inside the next GET /customer, before it answers: tests use it to
// change things while an RPC is reading the customer.
func (b *Business) OnGet(fn func()) { b.onGet.Store(&fn) }

// SetUnavailable makes the customer API (every /customer request) answer 503; the requests
// are still recorded.
func (b *Business) SetUnavailable(v bool) { b.unavailable.Store(v) }

// Requests returns the requests received so far, in arrival order.
func (b *Business) Requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Request(nil), b.requests...)
}

// Last returns the last request received; it is the zero Request before any.
func (b *Business) Last() Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		return Request{}
	}
	return b.requests[len(b.requests)-1]
}

// Events returns the business events received so far.
func (b *Business) Events() []json.RawMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]json.RawMessage(nil), b.events...)
}

// WaitEvents waits for at least n events.
func (b *Business) WaitEvents(t testing.TB, n int, timeout time.Duration) []json.RawMessage {
	t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		ch := b.changed
		got := len(b.events)
		b.mu.Unlock()
		if got >= n {
			return b.Events()
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("business: %d events after %v, want %d", got, timeout, n)
			return nil
		}
	}
}

// authorized reports whether r carries the credentials RequireAuth asks for.
func (b *Business) authorized(r *http.Request) bool {
	b.mu.Lock()
	a := b.auth
	b.mu.Unlock()
	switch a.Type {
	case callback.AuthAPIKey:
		return r.Header.Get("X-Api-Key") == a.Secret
	case callback.AuthJWT:
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return false
		}
		_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(a.Secret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
		return err == nil
	}
	return true
}

// record reads r's body into a Request (files: sizes by field) and appends it.
func (b *Business) record(r *http.Request) (Request, []byte, map[string]int) {
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: map[string]string{},
		ContentType: r.Header.Get("Content-Type")}
	files := map[string]int{}
	var raw []byte
	ct, _, _ := mime.ParseMediaType(req.ContentType)
	if ct == "multipart/form-data" {
		if err := r.ParseMultipartForm(1 << 20); err == nil {
			for k, v := range r.MultipartForm.Value {
				req.Body[k] = v[0]
			}
			for k, v := range r.MultipartForm.File {
				files[k] = int(v[0].Size)
			}
		}
	} else {
		raw, _ = io.ReadAll(r.Body)
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok {
					req.Body[k] = s
				}
			}
		}
	}
	b.mu.Lock()
	b.requests = append(b.requests, req)
	b.mu.Unlock()
	return req, raw, files
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (b *Business) serve(w http.ResponseWriter, r *http.Request) {
	req, raw, files := b.record(r)
	if b.unavailable.Load() && (r.URL.Path == "/customer" || strings.HasPrefix(r.URL.Path, "/customer/")) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "down"})
		return
	}
	if !b.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/customer":
		if fn := b.onGet.Swap(nil); fn != nil {
			(*fn)()
		}
		q := r.URL.Query()
		b.mu.Lock()
		id, c := b.find(q.Get("id"), q.Get("account"), q.Get("memo"))
		var answer any
		if c != nil {
			answer = c.answer(id)
			if q.Get("include_values") == "true" && c.values != nil {
				answer = withValues(answer, c.values)
			}
		}
		b.mu.Unlock()
		switch {
		case c != nil:
			writeJSON(w, http.StatusOK, answer)
		case id != "":
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "customer not found"})
		default: // a new customer: what fields are needed
			writeJSON(w, http.StatusOK, map[string]any{"status": "NEEDS_INFO",
				"fields": map[string]any{"first_name": map[string]string{"type": "string", "description": "first name"}}})
		}
	case r.Method == http.MethodPut && r.URL.Path == "/customer":
		b.put(w, req, files)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/customer/"):
		id := strings.TrimPrefix(r.URL.Path, "/customer/")
		b.mu.Lock()
		_, ok := b.customers[id]
		if ok {
			delete(b.customers, id)
			for k, owner := range b.owners {
				if owner == id {
					delete(b.owners, k)
				}
			}
		}
		b.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "customer not found"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/event":
		b.mu.Lock()
		b.events = append(b.events, raw)
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no route"})
	}
}

// put serves PUT /customer: it makes or updates the customer and answers as GET would.
func (b *Business) put(w http.ResponseWriter, req Request, files map[string]int) {
	switch req.Body["email_address"] {
	case "bad":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "email_address is not an email address"})
		return
	case "unprocessable":
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{})
		return
	}
	b.mu.Lock()
	id, c := b.find(req.Body["id"], req.Body["account"], req.Body["memo"])
	if c == nil && id != "" {
		b.mu.Unlock()
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "customer not found"})
		return
	}
	if c == nil {
		b.next++
		id = fmt.Sprintf("biz-%d", b.next)
		c = &businessCustomer{account: req.Body["account"], memo: req.Body["memo"], fields: map[string]string{}, files: map[string]int{}}
		b.store(id, c)
	}
	for k, v := range req.Body {
		switch k {
		case "id", "account", "memo", "memo_type", "type", "transaction_id":
		default:
			c.fields[k] = v
		}
	}
	for k, v := range files {
		c.files[k] = v
	}
	idOnly, answer := b.idOnly, c.answer(id)
	b.mu.Unlock()
	if idOnly {
		writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
		return
	}
	writeJSON(w, http.StatusOK, answer)
}

// find looks a customer up by id, else by account and memo; with an id it does not know it
// returns the id and nil. b.mu is held.
func (b *Business) find(id, account, memo string) (string, *businessCustomer) {
	if id == "" {
		id = b.owners[account+":"+memo]
	}
	if id == "" {
		return "", nil
	}
	return id, b.customers[id]
}

// answer is c as GET /customer returns it.
func (c *businessCustomer) answer(id string) any {
	if c.set != nil {
		return *c.set
	}
	m := map[string]any{"id": id}
	missing := map[string]any{}
	for _, f := range []string{"first_name", "last_name", "email_address"} {
		if c.fields[f] == "" {
			missing[f] = map[string]any{"type": "string", "description": f}
		}
	}
	provided := map[string]any{}
	for f := range c.fields {
		provided[f] = map[string]any{"type": "string", "description": f, "status": "PROCESSING"}
	}
	for f := range c.files {
		provided[f] = map[string]any{"type": "binary", "description": f, "status": "PROCESSING"}
	}
	m["provided_fields"] = provided
	switch {
	case c.fields["last_name"] == "Rejected":
		m["status"], m["message"] = "REJECTED", "sanctions"
	case len(missing) > 0:
		m["status"], m["fields"] = "NEEDS_INFO", missing
	default:
		m["status"] = "PROCESSING"
	}
	return m
}

// withValues is answer with its "values" object set to values.
func withValues(answer any, values map[string]string) any {
	raw, _ := json.Marshal(answer)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["values"] = values
	return m
}
