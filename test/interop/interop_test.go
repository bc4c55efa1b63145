package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
)

// homeDomain is the name the wallet knows vaspgate by. The wallet reaches it through
// HTTP_PROXY pointing at the test server (Go's server routes absolute-form requests like
// any other), so the public URL has no port; see the comment on runWallet for why.
const homeDomain = "vaspgate.test"

// anchor is a vaspgate public listener with the SEP-1/SEP-10 routes, as the lead wires it.
type anchor struct {
	srv  *httptest.Server
	auth *stellar.Auth

	mu    sync.Mutex
	hosts map[string]int // requests per Host header
}

func startAnchor(t *testing.T) *anchor {
	t.Helper()
	cfg := stellar.Options{
		NetworkPassphrase: "Test SDF Network ; September 2015",
		SigningSeed:       keypair.MustRandom().Seed(),
		PublicURL:         "http://" + homeDomain,
		LedgerMode:        stellar.LedgerNone,
		TOML: stellar.TOML{
			// No documentation: the wallet SDK must cope with the (empty) table vaspgate writes.
			Currencies: []stellar.Currency{{
				Code: "USDC", Issuer: keypair.MustRandom().Address(), Status: "test", DisplayDecimals: 2,
				Name: "USD Coin", Desc: "Test dollar", IsAssetAnchored: true, AnchorAssetType: "fiat", AnchorAsset: "USD",
			}},
		},
	}
	log := slog.New(slog.DiscardHandler)
	cfg.Logger = log
	auth, err := stellar.New(testkit.StellarOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	stellarhttp.New(auth, log).Register(mux)
	a := &anchor{auth: auth, hosts: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.hosts[r.Host]++
		a.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// runWallet runs wallet.mjs with steps against the anchor and returns its JSON output.
//
// Why a proxy and not http://127.0.0.1:<port>: the wallet SDK compares the challenge's
// web_auth_domain with new URL(WEB_AUTH_ENDPOINT).hostname (no port), while SEP-10 and the
// conformance suite want the host with its port (stellar-seps.md 3.1). On the default port
// both agree, so the wallet is given a port-less public URL and reaches the test server as
// its HTTP proxy.
func runWallet(t *testing.T, a *anchor, steps string) map[string]map[string]any {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for the interop tests (Node.js >= 20): %v", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ensureModules(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "wallet.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"VASPGATE_HOME_DOMAIN="+homeDomain,
		"VASPGATE_STEPS="+steps,
		"HTTP_PROXY="+a.srv.URL, "http_proxy="+a.srv.URL,
		"NO_PROXY=", "no_proxy=", "npm_config_proxy=", "npm_config_http_proxy=", "npm_config_no_proxy=",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("wallet.mjs (%s): %v\nstderr:\n%s\nstdout:\n%s", steps, err, stderr.String(), stdout.String())
	}
	var out map[string]map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("wallet.mjs output %q: %v\nstderr:\n%s", stdout.String(), err, stderr.String())
	}
	return out
}

// ensureModules installs the pinned wallet SDK (npm ci, from package-lock.json) when
// node_modules is missing, as on a fresh CI checkout.
func ensureModules(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@stellar", "typescript-wallet-sdk", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is required to install the wallet SDK: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
}

func TestWalletSEP10(t *testing.T) {
	a := startAnchor(t)
	out := runWallet(t, a, "sep10")
	r := out["sep10"]
	if r == nil {
		t.Fatalf("no sep10 result: %v", out)
	}
	if r["signing_key"] != a.auth.SigningKey() || r["web_auth_endpoint"] != "http://"+homeDomain+"/auth" ||
		r["kyc_server"] != "http://"+homeDomain+"/sep12" {
		t.Errorf("toml as the wallet read it: %v", r)
	}

	id, err := a.auth.Verify(r["token"].(string))
	if err != nil {
		t.Fatalf("wallet's token: %v", err)
	}
	if id.Sub != r["account"] || id.Account != r["account"] || id.Memo != "" || r["token_account"] != r["account"] {
		t.Errorf("plain identity %+v, wallet result %v", id, r)
	}

	id, err = a.auth.Verify(r["memo_token"].(string))
	if err != nil {
		t.Fatalf("wallet's memo token: %v", err)
	}
	if id.Account != r["memo_account"] || id.Memo != "42" || id.Sub != r["memo_account"].(string)+":42" || r["memo_token_memo"] != "42" {
		t.Errorf("memo identity %+v, wallet result %v", id, r)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hosts[homeDomain] < 5 { // toml, and GET + POST /auth twice
		t.Errorf("requests per host: %v", a.hosts)
	}
}
