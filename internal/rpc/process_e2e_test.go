package rpc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/stellar/go-stellar-sdk/network"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// running is a vaspgate serve process.
type running struct {
	public, admin string
}

func startVaspgate(t *testing.T, configYAML string) running {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "vaspgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testkit.Binary(t), "serve", "--config", cfgPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VASPGATE_PUBLIC_ADDR=127.0.0.1:0", "VASPGATE_ADMIN_ADDR=127.0.0.1:0", "VASPGATE_SHUTDOWN_TIMEOUT=5s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan map[string]any, 1)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "vaspgate started" {
				started <- m
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case m := <-started:
		return running{public: "http://" + m["public"].(string), admin: "http://" + m["admin"].(string)}
	case err := <-exited:
		t.Fatalf("vaspgate exited: %v\n%s", err, stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatal("vaspgate did not start within 90s")
	}
	return running{}
}

// TestSeedRaceAgainstRunningVaspgate is the seed's race end to end against the real binary
// (vaspgate serve) on each engine: a wallet creates a SEP-6 deposit over HTTP with an
// on_change_callback and reads its customer over SEP-12; the business reports NEEDS_INFO,
// PROCESSING and ACCEPTED over the JSON-RPC (API key) in quick succession. The wallet gets
// the three SEP-12 callbacks in order and the SEP-6 callbacks (on_change_callback and the
// client's static URL), every signature verified; identical repeats send nothing; a second
// transaction's burst happens while the wallet is down, and the wallet gets all of it, in
// order, once it is back.
func TestSeedRaceAgainstRunningVaspgate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			seedRaceProcess(t, d)
		})
	}
}

func seedRaceProcess(t *testing.T, d store.Dialect) {
	ctx := context.Background()
	dbURL := storetest.URL(t, d)
	signer, _ := keypair.Random()
	user, _ := keypair.Random()
	issuer, _ := keypair.Random()
	wallet := testkit.NewWallet(t, signer.Address())
	biz := testkit.NewBusiness(t)
	walletHost, _ := url.Parse(wallet.URL)
	const apiKey = "e2e-business-api-key-0123456789"
	const jwtSecret = "e2e-sep10-jwt-secret-0123456789abcdef"
	cfg := fmt.Sprintf(`
mode: development
database_url: %q
log_level: info
stellar:
  network_passphrase: %q
  signing_seed: %q
  public_url: http://localhost:8000
  ledger: none
  jwt_secret: %q
  toml:
    currencies:
      - {code: USDC, issuer: %q, status: test, desc: test dollar, is_asset_anchored: true, anchor_asset_type: fiat}
callback:
  allow_cidrs: ["127.0.0.0/8"]
  wallet_allow_cidrs: ["127.0.0.0/8"]
  retry_schedule: [20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms, 20ms]
  jitter: -1
  poll_interval: 10ms
  throttle_floor: 20ms
  circuit_threshold: 1000
  circuit_cooldown: 20ms
  business:
    url: %q
kyc:
  backend: business
  business:
    base_url: %q
rpc:
  auth:
    type: api_key
    secret: %q
transfer:
  # The seed's flow is Anchor Platform's: the deposit exists before KYC, the business moves it.
  request_kyc: anchor_platform
  callback_http_hosts: [%q]
  assets:
    - code: USDC
      issuer: %q
      offchain_asset: iso4217:USD
      deposit: {enabled: true, funding_methods: [SEPA]}
      withdraw: {enabled: true, funding_methods: [SEPA]}
clients:
  - name: e2e-wallet
    type: custodial
    signing_keys: [%q]
    callback_urls:
      sep6: %q
      sep12: %q
`, dbURL, network.TestNetworkPassphrase, signer.Seed(), jwtSecret, issuer.Address(), biz.URL+"/event", biz.URL, apiKey, walletHost.Host,
		issuer.Address(), user.Address(), wallet.URL+"/sep6", wallet.URL+"/sep12")
	vg := startVaspgate(t, cfg)

	// The wallet's SEP-10 token, made with the same key the process derives from its config.
	auth, err := stellar.New(testkit.StellarOptions(stellar.Options{NetworkPassphrase: network.TestNetworkPassphrase, SigningSeed: signer.Seed(),
		PublicURL: "http://localhost:8000", LedgerMode: stellar.LedgerNone, JWTSecret: jwtSecret}))
	if err != nil {
		t.Fatal(err)
	}
	token, err := auth.IssueToken(user.Address(), "")
	if err != nil {
		t.Fatal(err)
	}
	walletGet := func(path string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, vg.public+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	rpcCall := func(params map[string]any) {
		t.Helper()
		p, _ := json.Marshal(params)
		req, _ := http.NewRequest(http.MethodPost, vg.admin+"/rpc",
			strings.NewReader(fmt.Sprintf(`[{"jsonrpc":"2.0","id":1,"method":"notify_customer_info_updated","params":%s}]`, p)))
		req.Header.Set("X-Api-Key", apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"result"`) {
			t.Fatalf("rpc: %d %s", resp.StatusCode, b)
		}
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	flow := func(custID, cbPath string, down bool) {
		t.Helper()
		base12, base6 := len(wallet.Got("/sep12")), len(wallet.Got("/sep6"))
		dep := walletGet("/sep6/deposit?asset_code=USDC&funding_method=SEPA&account=" + user.Address() +
			"&on_change_callback=" + url.QueryEscape(wallet.URL+cbPath))
		txID := dep["id"].(string)
		biz.SetCustomer(kyc.Customer{ID: custID, Status: kyc.StatusNeedsInfo}, user.Address(), "")
		walletGet("/sep12/customer?type=sep6&transaction_id=" + txID)
		if down {
			wallet.SetDown(true)
		}
		for _, st := range []string{kyc.StatusNeedsInfo, kyc.StatusProcessing, kyc.StatusAccepted, kyc.StatusAccepted, kyc.StatusAccepted} {
			biz.SetCustomer(kyc.Customer{ID: custID, Status: st}, user.Address(), "")
			rpcCall(map[string]any{"transaction_id": txID, "customer_id": custID, "customer_type": "sep6"})
		}
		if n := countForSubjects(t, db, txID, custID); n != 7 {
			t.Fatalf("%s: %d wallet callbacks recorded, want 7 (3 SEP-12, 2 x 2 SEP-6)", custID, n)
		}
		if down {
			waitFailedAttempt(t, db)
			wallet.SetDown(false)
		}
		var sep12 []testkit.Received
		for _, r := range wallet.Wait("/sep12", base12+3, waitFor) {
			var m map[string]any
			_ = json.Unmarshal(r.Body, &m)
			if m["id"] == custID {
				sep12 = append(sep12, r)
			}
		}
		if got := customerStatuses(t, sep12); !slices.Equal(got, []string{"NEEDS_INFO", "PROCESSING", "ACCEPTED"}) {
			t.Errorf("%s: SEP-12 callbacks %v", custID, got)
		}
		for _, path := range []string{cbPath, "/sep6"} {
			n := 2
			if path == "/sep6" {
				n += base6
			}
			var mine []testkit.Received
			for _, r := range wallet.Wait(path, n, waitFor) {
				if strings.Contains(string(r.Body), txID) {
					mine = append(mine, r)
				}
			}
			if got := transactionStatuses(t, mine); !slices.Equal(got, []string{"pending_customer_info_update", "pending_anchor"}) {
				t.Errorf("%s: SEP-6 callbacks on %s: %v", custID, path, got)
			}
		}
	}
	flow("cust-up", "/cb-up", false)
	// A second transaction and customer, with the wallet down during the burst.
	flow("cust-down", "/cb-down", true)
	// Nothing more than the callbacks above arrives.
	if got12, got6 := len(wallet.Got("/sep12")), len(wallet.Got("/sep6")); got12 != 6 || got6 != 4 {
		t.Errorf("callbacks in all: %d SEP-12, %d SEP-6; want 6 and 4", got12, got6)
	}
}

// countForSubjects counts the wallet callbacks recorded for a transaction and a customer.
func countForSubjects(t *testing.T, db *store.DB, txID, custID string) int {
	t.Helper()
	var n int
	err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM callback_deliveries d
		JOIN callback_endpoints e ON e.id = d.endpoint_id
		WHERE e.kind = 'wallet' AND (d.subject = ? OR d.subject = ?)`, "transaction:"+txID, kyc.Subject(custID, "sep6")).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFailedAttempt(t *testing.T, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM callback_attempts WHERE status_code = 503").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt failed against the down wallet")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}
