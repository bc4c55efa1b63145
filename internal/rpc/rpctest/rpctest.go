// Package rpctest assembles a working SEP-6 + SEP-12 + business RPC stack for tests: a
// migrated database, the real callback engine delivering over loopback, the transfer and
// kyc services, the JSON-RPC on a real HTTP server, the test kit's wallet (which verifies
// every callback's Stellar signature) and its Anchor Platform-style business server
// (GET /customer, POST /event). It sits beside rpc, the highest package it assembles, so no
// test helper of a lower package imports upward.
package rpctest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

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
	Wallet      *testkit.Wallet
	Business    *testkit.Business
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
	s.Wallet = testkit.NewWallet(t, signer.Address())
	s.Business = testkit.NewBusiness(t)
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
		t.Fatalf("rpctest: callback engine: %v", err)
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
		t.Fatalf("rpctest: kyc: %v", err)
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
		t.Fatalf("rpctest: rpc: %v", err)
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
		t.Fatalf("rpctest: create transaction: %v", err)
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
		t.Fatalf("rpctest: create transaction: %v", err)
	}
	return tx
}
