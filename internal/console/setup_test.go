package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/app"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

const (
	adminToken    = "console-admin-token-0123456789abcdef"
	viewerToken   = "console-viewer-token-0123456789abcdef"
	operatorToken = "console-operator-token-0123456789abcdef"
)

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// syncBuffer collects the server's logs (written from many goroutines).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

type stack struct {
	app    *app.App
	admin  string // http://127.0.0.1:port of the admin listener
	wallet *testkit.Wallet
	logs   *syncBuffer
	dbURL  string
}

// start runs vaspgate (internal/app, what `vaspgate serve` runs) on the engine, with a
// viewer and an operator besides the admin token, and a wallet whose callbacks fail fast
// into dead letters (two attempts).
func start(t *testing.T, d store.Dialect, tweak ...func(*config.Config)) *stack {
	t.Helper()
	return startOn(t, storetest.URL(t, d), tweak...)
}

// startOn starts vaspgate on the database at dbURL (another instance may share it); tweak
// changes the configuration first.
func startOn(t *testing.T, dbURL string, tweak ...func(*config.Config)) *stack {
	t.Helper()
	kp := keypair.MustRandom()
	w := testkit.NewWallet(t, kp.Address()) // checks every callback's signature
	cfg := config.Default()
	cfg.DatabaseURL = dbURL
	cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.AdminToken = adminToken
	cfg.EncryptionKey = seal.NewKey()
	cfg.Stellar.SigningSeed = kp.Seed()
	cfg.Stellar.PublicURL = "http://anchor.test"
	cfg.Stellar.Ledger = config.LedgerNone
	cfg.Callback.AllowCIDRs = []string{"127.0.0.0/8"}
	cfg.Callback.WalletAllowCIDRs = []string{"127.0.0.0/8"} // the test wallet is on loopback
	cfg.Callback.RetrySchedule = []time.Duration{5 * time.Millisecond}
	cfg.Callback.Jitter = -1
	cfg.KYC.CallbackHTTPHosts = []string{w.Host()}
	cfg.ShutdownTimeout = 10 * time.Second
	// Each test its own spool: the default (./vaspgate-spool on PostgreSQL) would be shared by
	// the parallel tests, which would then replay each other's acknowledged callbacks.
	cfg.TravelRule.SpoolDir = filepath.Join(t.TempDir(), "spool")
	cfg.Console.Operators = []config.ConsoleOperator{
		{Name: "vera", Role: config.RoleViewer, TokenSHA256: sum(viewerToken)},
		{Name: "otto", Role: config.RoleOperator, TokenSHA256: sum(operatorToken)},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	// Check, not Validate: the development asset's issuer is filled in by app.New.
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &stack{app: a, admin: "http://" + a.Server.AdminAddr(), wallet: w, logs: logs, dbURL: dbURL}
}

// customer makes a builtin customer the way a wallet does (first name, then its callback
// URL, then the rest), so that the move to PROCESSING sends a SEP-12 callback to the wallet.
// It returns the customer id.
func (s *stack) customer(t *testing.T, first, last, email string) string {
	t.Helper()
	ctx := context.Background()
	caller := wallet.Identity{Account: keypair.MustRandom().Address()}
	id, err := s.app.KYC.Put(ctx, caller, kyc.PutRequest{Type: "sep6", Fields: map[string]string{"first_name": first}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.KYC.SetCallback(ctx, caller, kyc.CallbackRequest{ID: id, URL: s.wallet.URL + "/kyc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.KYC.Put(ctx, caller, kyc.PutRequest{ID: id, Type: "sep6", Fields: map[string]string{"last_name": last, "email_address": email}}); err != nil {
		t.Fatal(err)
	}
	return id
}

// client is a browser without JavaScript: a cookie jar, no automatic redirects.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (s *stack) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: s.admin, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *client) do(method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) { return c.do("GET", path, nil, nil) }

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	return c.do("POST", path, form, nil)
}

// signIn signs in with token and returns the CSRF token the pages carry.
func (c *client) signIn(token string) string {
	c.t.Helper()
	resp, _ := c.post("/console/signin", url.Values{"token": {token}, "next": {"/console/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		c.t.Fatalf("sign-in = %d to %q, want 303 to /console/", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := c.get("/console/")
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("overview after sign-in = %d", resp.StatusCode)
	}
	return csrfOf(c.t, body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token in the page")
	}
	return m[1]
}

// regexpAll returns the first group of every match of expr in s, in order, without repeats.
func regexpAll(expr, s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(expr).FindAllStringSubmatch(s, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

func travelruleFilter() travelrule.Filter { return travelrule.Filter{} }
