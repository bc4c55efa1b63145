package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
)

// Business is an Anchor Platform business server: GET /customer answers from the customers
// set with SetCustomer; POST /event records events. With RequireAuth set, a request without
// the configured credentials is answered 401 and changes nothing.
type Business struct {
	URL string

	unavailable atomic.Bool
	onGet       atomic.Pointer[func()]
	mu          sync.Mutex
	auth        callback.Auth
	customers   map[string]kyc.Customer // by id
	owners      map[string]string       // account:memo -> id
	events      []json.RawMessage
	changed     chan struct{}
}

// NewBusiness starts a business server.
func NewBusiness(t testing.TB) *Business {
	b := &Business{customers: map[string]kyc.Customer{}, owners: map[string]string{}, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(srv.Close)
	b.URL = srv.URL
	return b
}

// SetCustomer sets (or replaces) a customer and the account and memo it belongs to.
func (b *Business) SetCustomer(c kyc.Customer, account, memo string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.customers[c.ID] = c
	b.owners[account+":"+memo] = c.ID
}

// RequireAuth makes the server check every request's credentials as Anchor Platform's
// callback API does for a: the X-Api-Key header for AuthAPIKey, an HS256 bearer JWT with
// exp and iat for AuthJWT, nothing for AuthNone.
func (b *Business) RequireAuth(a callback.Auth) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.auth = a
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

// OnGet runs fn (once) inside the next GET /customer, before it answers: tests use it to
// change things while an RPC is reading the customer.
func (b *Business) OnGet(fn func()) { b.onGet.Store(&fn) }

// SetUnavailable makes GET /customer answer 503.
func (b *Business) SetUnavailable(v bool) { b.unavailable.Store(v) }

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

func (b *Business) serve(w http.ResponseWriter, r *http.Request) {
	if !b.authorized(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/customer":
		if b.unavailable.Load() {
			http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
			return
		}
		if fn := b.onGet.Swap(nil); fn != nil {
			(*fn)()
		}
		q := r.URL.Query()
		b.mu.Lock()
		id := q.Get("id")
		if id == "" {
			id = b.owners[q.Get("account")+":"+q.Get("memo")]
		}
		c, ok := b.customers[id]
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			if id == "" {
				// A new customer: what fields are needed.
				_ = json.NewEncoder(w).Encode(map[string]any{"status": "NEEDS_INFO",
					"fields": map[string]any{"first_name": map[string]string{"type": "string", "description": "first name"}}})
				return
			}
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"customer not found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(c)
	case r.Method == http.MethodPost && r.URL.Path == "/event":
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.events = append(b.events, body)
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}
