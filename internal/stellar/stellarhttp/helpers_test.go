package stellarhttp

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/stellar"
)

const testnet = "Test SDF Network ; September 2015"

// clock is a settable time source shared by a test and the server.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// options change the server setup.
type options struct {
	ledger      stellar.Ledger
	clientHTTP  *http.Client
	redemptions stellar.Redemptions
	mutate      func(*stellar.Options)
}

// bundle is one running vaspgate SEP-1/SEP-10 server on loopback.
type bundle struct {
	srv    *httptest.Server
	auth   *stellar.Auth
	h      *Handler
	cfg    stellar.Options
	server *keypair.Full
	clock  *clock
	host   string // host:port, the home domain and web_auth_domain
}

func setup(t *testing.T, o options) *bundle {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	server := keypair.MustRandom()
	host := srv.Listener.Addr().String()
	cfg := stellar.Options{
		NetworkPassphrase: testnet,
		SigningSeed:       server.Seed(),
		PublicURL:         "http://" + host,
		LedgerMode:        stellar.LedgerNone,
		ChallengeTimeout:  15 * time.Minute,
		TokenTTL:          24 * time.Hour,
		TOML: stellar.TOML{Currencies: []stellar.Currency{{
			Code: "USDC", Issuer: keypair.MustRandom().Address(), Status: "test", DisplayDecimals: 2,
			Name: "USD Coin", Desc: "A dollar", IsAssetAnchored: true, AnchorAssetType: "fiat", AnchorAsset: "USD",
		}}},
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	if len(cfg.HomeDomains) == 0 {
		cfg.HomeDomains = []string{strings.TrimPrefix(cfg.PublicURL, "http://")}
	}
	clk := &clock{}
	cfg.Ledger, cfg.ClientDomainHTTP, cfg.Redemptions = o.ledger, o.clientHTTP, o.redemptions
	cfg.Now, cfg.Logger = clk.now, slog.New(slog.DiscardHandler)
	auth, err := stellar.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := New(auth, slog.New(slog.DiscardHandler))
	h.Register(mux)
	mux.Handle("GET /protected", h.Require(http.HandlerFunc(echoIdentity)))
	mux.Handle("PUT /protected", h.Require(http.HandlerFunc(echoIdentity)))
	srv.Start()
	t.Cleanup(srv.Close)
	return &bundle{srv: srv, auth: auth, h: h, cfg: cfg, server: server, clock: clk, host: host}
}

// echoIdentity answers the identity the middleware put in the context.
func echoIdentity(w http.ResponseWriter, r *http.Request) {
	id, ok := stellar.IdentityFrom(r.Context())
	if !ok {
		http.Error(w, "no identity", http.StatusInternalServerError)
		return
	}
	// Every field, the subject too (its JSON form leaves the subject out), and the actor
	// of what the request changes.
	a := actor.From(r.Context())
	_ = json.NewEncoder(w).Encode(map[string]string{"Sub": id.Sub, "Account": id.Account,
		"Memo": id.Memo, "Muxed": id.Muxed, "ClientDomain": id.ClientDomain, "Actor": string(a.Kind) + ":" + a.Name})
}

// response is one HTTP answer, decoded.
type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (r response) errorString(t *testing.T) string {
	t.Helper()
	s, ok := r.json["error"].(string)
	if !ok || s == "" {
		t.Fatalf("no error string in %s", r.body)
	}
	return s
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, body: body}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &out.json); err != nil {
			t.Fatalf("invalid JSON %q: %v", body, err)
		}
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("%s %s: no Access-Control-Allow-Origin: * (status %d)", req.Method, req.URL.Path, resp.StatusCode)
	}
	return out
}

func (b *bundle) get(t *testing.T, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func (b *bundle) post(t *testing.T, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/auth", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func (b *bundle) postForm(t *testing.T, tx string) response {
	t.Helper()
	return b.post(t, "application/x-www-form-urlencoded", url.Values{"transaction": {tx}}.Encode())
}

func (b *bundle) postJSON(t *testing.T, tx string) response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"transaction": tx})
	return b.post(t, "application/json", string(body))
}

// challenge asks GET /auth for account with extra query parameters ("memo", "1", ...).
func (b *bundle) challenge(t *testing.T, account string, kv ...string) *txnbuild.Transaction {
	t.Helper()
	q := url.Values{"account": {account}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	r := b.get(t, "/auth?"+q.Encode())
	if r.status != http.StatusOK {
		t.Fatalf("GET /auth: %d %s", r.status, r.body)
	}
	return parseTx(t, r.json["transaction"].(string))
}

func parseTx(t *testing.T, b64 string) *txnbuild.Transaction {
	t.Helper()
	g, err := txnbuild.TransactionFromXDR(b64)
	if err != nil {
		t.Fatal(err)
	}
	tx, ok := g.Transaction()
	if !ok {
		t.Fatal("fee bump challenge")
	}
	return tx
}

// sign adds signatures of kps (on passphrase) and returns the envelope.
func sign(t *testing.T, tx *txnbuild.Transaction, passphrase string, kps ...*keypair.Full) string {
	t.Helper()
	tx, err := tx.Sign(passphrase, kps...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tx.Base64()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// token runs the whole flow for account signed by kps and returns the POST answer.
func (b *bundle) token(t *testing.T, account string, kps []*keypair.Full, kv ...string) response {
	t.Helper()
	return b.postForm(t, sign(t, b.challenge(t, account, kv...), testnet, kps...))
}

// fakeHorizon serves Horizon-shaped account resources; unknown accounts are 404 not_found.
type fakeHorizon struct {
	srv      *httptest.Server
	mu       sync.Mutex
	accounts map[string]string
	down     bool
}

func newFakeHorizon(t *testing.T) *fakeHorizon {
	f := &fakeHorizon{accounts: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id, ok := strings.CutPrefix(r.URL.Path, "/accounts/")
		switch {
		case f.down:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"type":"https://stellar.org/horizon-errors/service_unavailable","status":503}`))
		case !ok:
			http.NotFound(w, r)
		case f.accounts[id] != "":
			w.Header().Set("Content-Type", "application/hal+json")
			_, _ = w.Write([]byte(f.accounts[id]))
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"type":"https://stellar.org/horizon-errors/not_found","title":"Resource Missing","status":404}`))
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// signerSpec is a signer and its weight for fakeHorizon.set.
type signerSpec struct {
	key    string
	weight int
}

func (f *fakeHorizon) set(account string, med int, signers ...signerSpec) {
	var parts []string
	for _, s := range signers {
		parts = append(parts, `{"weight":`+strconv.Itoa(s.weight)+`,"key":"`+s.key+`","type":"ed25519_public_key"}`)
	}
	body := `{"id":"` + account + `","account_id":"` + account + `","sequence":"1","subentry_count":0,` +
		`"thresholds":{"low_threshold":0,"med_threshold":` + strconv.Itoa(med) + `,"high_threshold":` + strconv.Itoa(med) + `},` +
		`"balances":[],"signers":[` + strings.Join(parts, ",") + `],"data":{}}`
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[account] = body
}

func (f *fakeHorizon) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeHorizon) ledger(t *testing.T) stellar.Ledger {
	h, err := stellar.NewHorizon(f.srv.URL, nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// clientDomainServer is a wallet's HTTPS server for a client domain, and a client that
// reaches it (and only it) under any host name: it stands for the SSRF-safe client the lead
// passes, allowed to reach loopback.
func clientDomainServer(t *testing.T, toml func(host string) (int, string)) *http.Client {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/stellar.toml" {
			http.NotFound(w, r)
			return
		}
		status, body := toml(r.Host)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	client := srv.Client()
	tr := client.Transport.(*http.Transport).Clone()
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = "example.com" // httptest's certificate names example.com
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}
