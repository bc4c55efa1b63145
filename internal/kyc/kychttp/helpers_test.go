package kychttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/kyc/kychttp"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

const testnet = "Test SDF Network ; September 2015"

// txOwners is the test's kyc.Transactions: transaction id -> creator.
type txOwners struct {
	mu sync.Mutex
	m  map[string]wallet.Identity
}

func (t *txOwners) Owner(_ context.Context, _ store.Querier, id string) (wallet.Identity, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.m[id]
	if !ok {
		return wallet.Identity{}, kyc.ErrNotFound
	}
	return o, nil
}

func (t *txOwners) set(id string, o wallet.Identity) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[id] = o
}

// bundle is one running vaspgate SEP-12 server on loopback (public and admin routes on one
// server for the tests), with a running callback engine.
type bundle struct {
	srv  *httptest.Server
	db   *store.DB
	svc  *kyc.Service
	auth *stellar.Auth
	// signingKey is the server's callback signing key (a G… address), what a wallet reads
	// from stellar.toml.
	signingKey string
	txs        *txOwners
}

type setupOpts struct {
	mutate func(*kyc.Options)
	// hooks are the status hooks (kyc.Options.StatusHooks).
	hooks   []kyc.StatusHook
	clients wallet.Clients
	// businessEvents, when set, receives the business events (callback.business.url).
	businessEvents string
	// limits and now are kyc.Options' Limits and Now.
	limits kyc.Limits
	now    func() time.Time
}

func testKYC() kyc.Options {
	return kyc.Options{
		Types: map[string]kyc.CustomerType{
			"sep6": {Fields: map[string]kyc.Field{
				"first_name":     {Description: "first name"},
				"last_name":      {Description: "last name"},
				"email_address":  {Description: "email"},
				"photo_id_front": {Type: "binary", Description: "photo", Optional: true},
			}},
			"sep31-sender": {Fields: map[string]kyc.Field{
				"first_name":    {Description: "first name"},
				"birth_date":    {Type: "date", Description: "birth date"},
				"mobile_number": {Description: "phone"},
			}},
		},
		MaxFileSize: 1 << 10,
	}
}

func setup(t *testing.T, db *store.DB, o setupOpts) *bundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	server := keypair.MustRandom()
	auth, err := stellar.New(testkit.StellarOptions(stellar.Options{
		NetworkPassphrase: testnet, SigningSeed: server.Seed(), PublicURL: srv.URL, LedgerMode: stellar.LedgerNone,
		TOML:   stellar.TOML{Currencies: []stellar.Currency{{Code: "USDC", Status: "test", Desc: "d", AnchorAssetType: "fiat"}}},
		Logger: slog.New(slog.DiscardHandler),
	}))
	if err != nil {
		t.Fatal(err)
	}
	co := testkit.FastCallbackOptions(server.Seed())
	if o.businessEvents != "" {
		co.Business = testkit.BusinessEvents(o.businessEvents)
	}
	eng, err := callback.New(ctx, db, co)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	key, _ := seal.ParseKey(seal.NewKey())
	ring, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testKYC()
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	txs := &txOwners{m: map[string]wallet.Identity{}}
	cfg.Clients, cfg.DB, cfg.Sealer, cfg.Outbox, cfg.Transactions = o.clients, db, ring, eng.Outbox(), txs
	cfg.StatusHooks = o.hooks
	cfg.CallbackURLs = callback.URLPolicy{HTTPHosts: []string{"127.0.0.1"},
		Guard: callback.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	cfg.Logger, cfg.Limits, cfg.Now = slog.New(slog.DiscardHandler), o.limits, o.now
	svc, err := kyc.New(testkit.KYCOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	sh := stellarhttp.New(auth, slog.New(slog.DiscardHandler))
	sh.Register(mux)
	kychttp.Register(mux, svc, sh.RequireWith(kychttp.Refuse))
	kychttp.RegisterAdmin(mux, svc)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	return &bundle{srv: srv, db: db, svc: svc, auth: auth, signingKey: server.Address(), txs: txs}
}

// token mints a SEP-10 token for sub (tests only; the end-to-end test uses POST /auth).
func (b *bundle) token(t *testing.T, sub string) string {
	t.Helper()
	tok, err := b.auth.IssueToken(sub, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", r.status, r.body)
	}
	return m
}

func (b *bundle) do(t *testing.T, method, path, token, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: raw, header: resp.Header}
}

func (b *bundle) doJSON(t *testing.T, method, path, token string, v any) response {
	t.Helper()
	raw, _ := json.Marshal(v)
	return b.do(t, method, path, token, "application/json", bytes.NewReader(raw))
}

func (b *bundle) get(t *testing.T, token string, q url.Values) response {
	t.Helper()
	return b.do(t, http.MethodGet, "/sep12/customer?"+q.Encode(), token, "", nil)
}

// put sends PUT /customer as JSON and expects 202 with an id.
func (b *bundle) put(t *testing.T, token string, fields map[string]string) string {
	t.Helper()
	r := b.doJSON(t, http.MethodPut, "/sep12/customer", token, fields)
	if r.status != http.StatusAccepted {
		t.Fatalf("PUT /customer: %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["id"].(string)
	if id == "" {
		t.Fatalf("PUT /customer: no id in %s", r.body)
	}
	return id
}

func (b *bundle) decide(t *testing.T, id string, d map[string]any) response {
	t.Helper()
	return b.doJSON(t, http.MethodPut, "/admin/v1/customers/"+id+"/status", "", d)
}

func multipartBody(t *testing.T, text map[string]string, files map[string][]byte) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range text {
		_ = mw.WriteField(k, v)
	}
	for k, v := range files {
		w, err := mw.CreateFormFile(k, k+".png")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(v)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), &buf
}

func newAccount() string { return keypair.MustRandom().Address() }

// full is every required sep6 field.
func full() map[string]string {
	return map[string]string{"type": "sep6", "first_name": "Ada", "last_name": "Lovelace", "email_address": "ada@example.com"}
}

// callbackWait bounds the wait for one callback or business event.
const callbackWait = 10 * time.Second

// newWallet starts a test kit wallet that trusts this server's signing key, so that every
// callback it takes is signed as a wallet checks (stellar-seps.md 4.7).
func (b *bundle) newWallet(t *testing.T) *testkit.Wallet {
	t.Helper()
	return testkit.NewWallet(t, b.signingKey)
}

// walletDeliveries counts the wallet callbacks recorded for a customer and type.
func walletDeliveries(t *testing.T, db *store.DB, id, typ string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM callback_deliveries d
		JOIN callback_endpoints e ON e.id = d.endpoint_id WHERE e.kind = 'wallet' AND d.subject = ?`,
		kyc.Subject(id, typ)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
