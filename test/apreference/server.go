package apreference

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Options configure a Sim.
type Options struct {
	// ToPlatformSecret signs the JWT of every call to the platform API
	// (auth.anchorToPlatformSecret); empty sends none, as the reference server does for
	// any auth type but jwt.
	ToPlatformSecret string
	// FromPlatformSecret checks the JWT the platform sends with events and customer calls
	// (auth.platformToAnchorSecret); empty checks nothing.
	FromPlatformSecret string
}

// Customer is one customer of the business, as the reference server's customers table
// keeps it: the SEP-10 identity it was created with and its SEP-9 fields.
type Customer struct {
	ID, Account, Memo, MemoType string
	Fields                      map[string]string
}

// Event is one event the platform sent, as received.
type Event struct {
	ID, Type, Timestamp string
	// TransactionID and Status are the payload transaction's, when it has one.
	TransactionID, Status string
	Body                  []byte
}

// Call is one call the simulator made to the platform API.
type Call struct {
	Method, Path, RPCMethod string
	Status                  int
	Body                    []byte
}

// Sim is the simulated reference business server.
type Sim struct {
	// URL is where it listens (the platform's callback_api.base_url; events go to URL+"/event").
	URL string

	opts Options
	srv  *httptest.Server
	hc   *http.Client

	mu        sync.Mutex
	platform  string
	customers map[string]*Customer
	// txKYC is TransactionKYCRepository: the extra fields a transaction asks for.
	txKYC map[string][]string
	// offchain is the processor's map of transaction id to external transaction id.
	offchain map[string]string
	events   []Event
	calls    []Call
	problems []string
	warnings []string
}

// New starts a simulator on loopback; SetPlatform tells it where the platform is.
func New(opts Options) *Sim {
	s := &Sim{opts: opts, hc: &http.Client{Timeout: 30 * time.Second}, customers: map[string]*Customer{},
		txKYC: map[string][]string{}, offchain: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops it.
func (s *Sim) Close() { s.srv.Close() }

// SetPlatform sets the platform API's base URL (appSettings.platformApiEndpoint).
func (s *Sim) SetPlatform(u string) {
	s.mu.Lock()
	s.platform = strings.TrimSuffix(u, "/")
	s.mu.Unlock()
}

// Problems are the places where the reference server would have thrown or logged an error.
func (s *Sim) Problems() []string { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.problems) }

// Warnings are what the reference server logs as warnings (an event, kind or status it
// has nothing to do for): not failures.
func (s *Sim) Warnings() []string { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.warnings) }

// Events are the events received, in the order their handling ended.
func (s *Sim) Events() []Event { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.events) }

// Calls are the calls made to the platform, in order.
func (s *Sim) Calls() []Call { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.calls) }

// CustomerByAccount is the customer created with this identity, or nil.
func (s *Sim) CustomerByAccount(account, memo string) *Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.customers {
		if c.Account == account && c.Memo == memo {
			cp := *c
			cp.Fields = maps(c.Fields)
			return &cp
		}
	}
	return nil
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Sim) warn(format string, a ...any) {
	s.mu.Lock()
	s.warnings = append(s.warnings, fmt.Sprintf(format, a...))
	s.mu.Unlock()
}

func (s *Sim) problem(format string, a ...any) {
	s.mu.Lock()
	s.problems = append(s.problems, fmt.Sprintf(format, a...))
	s.mu.Unlock()
}

// authorized checks the platform's JWT as the reference server's AUTH_CONFIG_ENDPOINT
// does: an HS256 bearer token signed with the platform-to-anchor secret, not expired.
func (s *Sim) authorized(r *http.Request) bool {
	if s.opts.FromPlatformSecret == "" {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(s.opts.FromPlatformSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	return err == nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// httpError is an answer the reference server's exception handler gives.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		s.problem("%s %s: the platform's JWT was refused", r.Method, r.URL.Path)
		return
	}
	var (
		out any
		err error
	)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/customer":
		q := r.URL.Query()
		out, err = s.getCustomer(customerRequest{ID: q.Get("id"), Account: q.Get("account"), Memo: q.Get("memo"),
			MemoType: q.Get("memo_type"), TransactionID: q.Get("transaction_id"), Type: q.Get("type")})
	case r.Method == http.MethodPut && r.URL.Path == "/customer":
		var body map[string]any
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			err = &httpError{http.StatusBadRequest, "Content-Type must be application/json (multipart is not simulated)"}
			break
		}
		if err = json.NewDecoder(r.Body).Decode(&body); err != nil {
			err = &httpError{http.StatusBadRequest, err.Error()}
			break
		}
		out, err = s.upsertCustomer(body)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/customer/"):
		s.mu.Lock()
		delete(s.customers, strings.TrimPrefix(r.URL.Path, "/customer/"))
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	case r.Method == http.MethodPost && r.URL.Path == "/event":
		body, _ := io.ReadAll(r.Body)
		if err = s.receiveEvent(body); err == nil {
			out = map[string]any{"status": 200, "message": "event processed"}
		}
	default:
		err = &httpError{http.StatusNotFound, "no route " + r.Method + " " + r.URL.Path}
	}
	if he, ok := err.(*httpError); ok {
		writeJSON(w, he.status, map[string]string{"error": he.msg})
		return
	}
	if err != nil {
		s.problem("%s %s: %v", r.Method, r.URL.Path, err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, out)
}
