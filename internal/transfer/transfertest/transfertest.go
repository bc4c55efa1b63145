// Package transfertest assembles a working SEP-6 + SEP-12 + business RPC stack for tests: a
// migrated database, the real callback engine delivering over loopback, the transfer and
// kyc services, the JSON-RPC on a real HTTP server, a wallet that verifies every callback's
// Stellar signature, and an Anchor Platform-style business server (GET /customer,
// POST /event).
package transfertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/callback/callbacktest"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Received is one callback as the wallet got it.
type Received struct {
	Path string
	Body []byte
}

// Wallet is a loopback wallet backend: it verifies the Stellar Signature header of every
// callback as a wallet does (stellar-seps.md 4.7) and records the valid ones in arrival order.
// While down it answers 503 and records nothing.
type Wallet struct {
	URL  string
	pub  ed25519.PublicKey
	host string
	t    testing.TB

	down    atomic.Bool
	mu      sync.Mutex
	got     []Received
	changed chan struct{}
}

// NewWallet starts a wallet that trusts the anchor's SIGNING_KEY (a G… address).
func NewWallet(t testing.TB, signingKey string) *Wallet {
	raw, err := strkey.Decode(strkey.VersionByteAccountID, signingKey)
	if err != nil {
		t.Fatalf("transfertest: signing key: %v", err)
	}
	w := &Wallet{pub: ed25519.PublicKey(raw), t: t, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	u, _ := url.Parse(srv.URL)
	w.host = u.Host
	return w
}

// SetDown makes the wallet refuse (503) or accept callbacks.
func (w *Wallet) SetDown(down bool) { w.down.Store(down) }

func (w *Wallet) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if w.down.Load() {
		http.Error(rw, "down", http.StatusServiceUnavailable)
		return
	}
	if err := callbacktest.VerifyStellar(r.Header.Get("Signature"), w.host, body, w.pub, time.Now()); err != nil {
		w.t.Errorf("wallet: callback to %s with a bad signature: %v", r.URL.Path, err)
		http.Error(rw, err.Error(), http.StatusUnauthorized)
		return
	}
	w.mu.Lock()
	w.got = append(w.got, Received{Path: r.URL.Path, Body: body})
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

// Got returns the callbacks received so far on path (all paths when empty).
func (w *Wallet) Got(path string) []Received {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Received
	for _, r := range w.got {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Wait waits until n callbacks arrived on path and returns them; it fails the test after
// timeout.
func (w *Wallet) Wait(path string, n int, timeout time.Duration) []Received {
	w.t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ch := w.changed
		w.mu.Unlock()
		if got := w.Got(path); len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline:
			got := w.Got(path)
			w.t.Fatalf("wallet: %d callbacks on %s after %v, want %d", len(got), path, timeout, n)
			return got
		}
	}
}

// Business is an Anchor Platform business server: GET /customer answers from the customers
// set with SetCustomer; POST /event records events.
type Business struct {
	URL string

	unavailable atomic.Bool
	onGet       atomic.Pointer[func()]
	mu          sync.Mutex
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

// Options adjust a Stack.
type Options struct {
	// RPCAuth is the business's authentication to the RPC; empty type means none.
	RPCAuth rpc.Auth
	// BatchSizeLimit caps an RPC batch; 0 means production's default, 40.
	BatchSizeLimit int
	// Builtin uses the builtin KYC back end instead of the business server.
	Builtin bool
	// RetrySchedule for callbacks; default 20ms repeated, so a wallet that comes back is
	// served at once.
	RetrySchedule []time.Duration
	// User is the G… account of the wallet's user; empty means a random one.
	User string
	// ClientName names the wallet's client (clients[].name); empty means "wallet".
	ClientName string
	// Ledger reads Stellar transactions for the transfer service; nil means none.
	Ledger transfer.Ledger
	// Gate is the transfer service's gate; nil means none.
	Gate transfer.Gate
	// CustomerTypes are extra customer types (kyc.types) the RPC accepts.
	CustomerTypes []string
	// Quiet configures no business event endpoint and no static wallet URLs, for tests that
	// make many changes and look only at the RPC answers.
	Quiet bool
	// PendingPerIdentity is transfer.Options.PendingPerIdentity.
	PendingPerIdentity limit.Quota
}

// Stack is everything a business RPC test needs, wired as vaspgate serve wires it.
type Stack struct {
	DB          *store.DB
	Engine      *callback.Engine
	Transfers   *transfer.Service
	KYC         *kyc.Service
	RPC         *rpc.Server
	RPCURL      string
	Wallet      *Wallet
	Business    *Business
	SigningSeed string
	// User is the wallet's user (custodial client account) that owns transactions.
	User wallet.Identity
	// Clients is the clients configuration: one custodial client for User with the wallet's
	// /sep6 and /sep12 URLs.
	Clients wallet.Clients
}

// New builds and starts a Stack on db; everything stops when the test ends.
func New(t testing.TB, db *store.DB, o Options) *Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	signer, _ := keypair.Random()
	user, _ := keypair.Random()
	account := user.Address()
	if o.User != "" {
		account = o.User
	}
	name := "wallet"
	if o.ClientName != "" {
		name = o.ClientName
	}
	s := &Stack{DB: db, SigningSeed: signer.Seed(), User: wallet.Identity{Account: account}}
	s.Wallet = NewWallet(t, signer.Address())
	s.Business = NewBusiness(t)
	s.Clients = wallet.Clients{{Name: name, Type: wallet.Custodial, SigningKeys: []string{account},
		CallbackURLs: wallet.CallbackURLs{SEP6: s.Wallet.URL + "/sep6", SEP12: s.Wallet.URL + "/sep12"}}}
	businessURL := s.Business.URL + "/event"
	if o.Quiet {
		s.Clients[0].CallbackURLs = wallet.CallbackURLs{}
		businessURL = ""
	}

	sched := o.RetrySchedule
	if len(sched) == 0 {
		sched = make([]time.Duration, 40)
		for i := range sched {
			sched[i] = 20 * time.Millisecond
		}
	}
	co := testkit.CallbackOptions()
	co.RetrySchedule, co.Jitter, co.PollInterval = sched, 0, 10*time.Millisecond
	co.CircuitThreshold, co.CircuitCooldown, co.ThrottleFloor = 1000, 20*time.Millisecond, 20*time.Millisecond
	if businessURL != "" {
		co.Business = testkit.BusinessEvents(businessURL)
	}
	co.SigningSeed, co.Logger = s.SigningSeed, slog.New(slog.DiscardHandler)
	eng, err := callback.New(ctx, db, co)
	if err != nil {
		cancel()
		t.Fatalf("transfertest: callback engine: %v", err)
	}
	s.Engine = eng
	s.Transfers = transfer.New(transfer.Options{DB: db, Outbox: eng.Outbox(), Clients: s.Clients, Ledger: o.Ledger, Gate: o.Gate,
		PendingPerIdentity: o.PendingPerIdentity})
	key := make([]byte, seal.KeySize)
	_, _ = rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ko := kyc.Options{Backend: kyc.Business, Business: kyc.BusinessServer{BaseURL: s.Business.URL}}
	if o.Builtin {
		ko = kyc.Options{Backend: kyc.Builtin}
	}
	ko.Clients, ko.DB, ko.Sealer, ko.Outbox = s.Clients, db, sealer, eng.Outbox()
	ko.Transactions, ko.StatusHooks = s.Transfers, []kyc.StatusHook{s.Transfers.CustomerStatusHook}
	ko.CallbackURLs = callback.URLPolicy{Guard: callback.Guard{Allow: mustAllow("127.0.0.0/8")}}
	ko.Logger = slog.New(slog.DiscardHandler)
	k, err := kyc.New(testkit.KYCOptions(ko))
	if err != nil {
		cancel()
		t.Fatalf("transfertest: kyc: %v", err)
	}
	s.KYC = k
	batch := o.BatchSizeLimit
	if batch == 0 {
		batch = 40
	}
	rpcAuth := o.RPCAuth
	if rpcAuth.Type == "" {
		rpcAuth.Type = rpc.AuthNone
	}
	if rpcAuth.MaxLifetime == 0 {
		rpcAuth.MaxLifetime = 5 * time.Minute // production's default
	}
	s.RPC, err = rpc.New(rpc.Options{BatchSizeLimit: batch, Auth: rpcAuth, Transfers: s.Transfers, Customers: k, CustomerTypes: o.CustomerTypes, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		t.Fatalf("transfertest: rpc: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", s.RPC)
	s.RPC.RegisterREST(mux)
	srv := httptest.NewServer(mux)
	s.RPCURL = srv.URL

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = eng.Run(ctx)
	}()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	return s
}

func mustAllow(cidrs ...string) []netip.Prefix {
	p, err := callback.ParseAllow(cidrs)
	if err != nil {
		panic(err)
	}
	return p
}

// NewTransaction stores a SEP-6 transaction of the stack's user in status st.
func (s *Stack) NewTransaction(t testing.TB, kind transfer.Kind, st transfer.Status) transfer.Transaction {
	t.Helper()
	tx := transfer.Transaction{Kind: kind, Status: st, Owner: s.User, AssetCode: "USDC",
		Account: s.User.Account, CustomerType: "sep6", FundingMethod: "SEPA"}
	if err := s.Transfers.Create(context.Background(), &tx); err != nil {
		t.Fatalf("transfertest: create transaction: %v", err)
	}
	return tx
}

// Call sends one JSON-RPC batch (body as given) and returns the decoded answer.
func (s *Stack) Call(t testing.TB, header http.Header, body string) (int, json.RawMessage) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.RPCURL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("rpc: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Batch calls several methods in one request and returns the answers in order.
func (s *Stack) Batch(t testing.TB, calls []Call) []RPCResult {
	t.Helper()
	reqs := make([]map[string]any, len(calls))
	for i, c := range calls {
		reqs[i] = map[string]any{"jsonrpc": "2.0", "id": i, "method": c.Method, "params": c.Params}
	}
	b, _ := json.Marshal(reqs)
	status, body := s.Call(t, nil, string(b))
	var out []RPCResult
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out) != len(calls) {
		t.Fatalf("rpc batch: HTTP %d %s", status, body)
	}
	return out
}

// Call is one method call of a batch.
type Call struct {
	Method string
	Params any
}

// RPCResult is one decoded JSON-RPC answer.
type RPCResult struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *rpc.Error      `json:"error"`
}

// Do calls one method (as a one-element batch) and returns its answer.
func (s *Stack) Do(t testing.TB, method string, params any) RPCResult {
	t.Helper()
	p, _ := json.Marshal(params)
	status, body := s.Call(t, nil, fmt.Sprintf(`[{"jsonrpc":"2.0","id":1,"method":%q,"params":%s}]`, method, p))
	if status != http.StatusOK {
		t.Fatalf("rpc %s: HTTP %d %s", method, status, body)
	}
	var out []RPCResult
	if err := json.Unmarshal(body, &out); err != nil || len(out) != 1 {
		t.Fatalf("rpc %s: answer %s: %v", method, body, err)
	}
	return out[0]
}

// NewTransactionWith stores a transaction of the stack's user after edit adjusts it.
func (s *Stack) NewTransactionWith(t testing.TB, kind transfer.Kind, st transfer.Status, edit func(*transfer.Transaction)) transfer.Transaction {
	t.Helper()
	tx := transfer.Transaction{Kind: kind, Status: st, Owner: s.User, AssetCode: "USDC",
		Account: s.User.Account, CustomerType: "sep6", FundingMethod: "SEPA"}
	if edit != nil {
		edit(&tx)
	}
	if err := s.Transfers.Create(context.Background(), &tx); err != nil {
		t.Fatalf("transfertest: create transaction: %v", err)
	}
	return tx
}
