// Package e2e drives the assembled vaspgate (internal/app, exactly what `vaspgate serve`
// runs) over real HTTP on loopback, as a wallet, an operator and a business server would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/vaspgate/vaspgate/internal/app"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

const adminToken = "e2e-admin-token-0123456789abcdef"

type stack struct {
	app        *app.App
	public     string // http://127.0.0.1:port
	admin      string
	signingKey string // read from stellar.toml, as a wallet does
	// stop shuts this vaspgate down cleanly and waits for it (also run at the test's end).
	stop func()
}

func start(t *testing.T, d store.Dialect, w *testkit.Wallet) *stack {
	t.Helper()
	return startWith(t, d, w, nil)
}

// startWith starts vaspgate with the test configuration, adjusted by edit.
func startWith(t *testing.T, d store.Dialect, w *testkit.Wallet, edit func(*config.Config)) *stack {
	t.Helper()
	walletHost := w.Host()
	cfg := config.Default()
	cfg.DatabaseURL = storetest.URL(t, d)
	cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.AdminToken = adminToken
	cfg.EncryptionKey = seal.NewKey()
	kp := keypair.MustRandom()
	cfg.Stellar.SigningSeed = kp.Seed()
	cfg.Stellar.PublicURL = "http://anchor.test" // a name: the challenge's home domain
	cfg.Stellar.Ledger = config.LedgerNone
	cfg.Callback.AllowCIDRs = []string{"127.0.0.0/8"}
	cfg.Callback.WalletAllowCIDRs = []string{"127.0.0.0/8"} // the test wallet is on loopback
	cfg.KYC.CallbackHTTPHosts = []string{walletHost}
	cfg.Transfer.CallbackHTTPHosts = []string{walletHost}
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.TravelRule.SpoolDir = t.TempDir() // not the package directory
	cfg.FillDevAssetIssuer(keypair.MustRandom().Address())
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	s := &stack{app: a, public: "http://" + a.Server.PublicAddr(), admin: "http://" + a.Server.AdminAddr(), stop: stop}

	// The wallet learns SIGNING_KEY from stellar.toml, never from a callback.
	var toml struct{ SIGNING_KEY string }
	_, body := s.do(t, "GET", s.public+"/.well-known/stellar.toml", "", nil, 200)
	if _, err := tomlDecode(body, &toml); err != nil || toml.SIGNING_KEY != kp.Address() {
		t.Fatalf("stellar.toml SIGNING_KEY = %q (%v), want %s", toml.SIGNING_KEY, err, kp.Address())
	}
	s.signingKey = toml.SIGNING_KEY
	w.Trust(s.signingKey)
	return s
}

func tomlDecode(b []byte, v any) (toml.MetaData, error) { return toml.Decode(string(b), v) }

// do sends a request and checks the status; body may be nil.
func (s *stack) do(t *testing.T, method, u, bearer string, body any, want int) (http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, u, resp.StatusCode, b, want)
	}
	return resp.Header, b
}

// login runs SEP-10 as a wallet: fetch the challenge, sign it, exchange it for a JWT.
func (s *stack) login(t *testing.T, kp *keypair.Full) string {
	t.Helper()
	return s.loginMemo(t, kp, "")
}

// loginMemo is login for one user of a shared account (SEP-10 memo; none when empty).
func (s *stack) loginMemo(t *testing.T, kp *keypair.Full, memo string) string {
	t.Helper()
	q := url.Values{"account": {kp.Address()}}
	if memo != "" {
		q.Set("memo", memo)
	}
	_, b := s.do(t, "GET", s.public+"/auth?"+q.Encode(), "", nil, 200)
	var c struct {
		Transaction       string `json:"transaction"`
		NetworkPassphrase string `json:"network_passphrase"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	gtx, err := txnbuild.TransactionFromXDR(c.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := gtx.Transaction()
	tx, err = tx.Sign(c.NetworkPassphrase, kp)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := tx.Base64()
	_, b = s.do(t, "POST", s.public+"/auth", "", map[string]string{"transaction": signed}, 200)
	var tok struct{ Token string }
	json.Unmarshal(b, &tok)
	if tok.Token == "" {
		t.Fatalf("no token: %s", b)
	}
	return tok.Token
}

// rpc calls the business JSON-RPC and fails the test on an RPC error.
func (s *stack) rpc(t *testing.T, method string, params map[string]any) map[string]any {
	t.Helper()
	_, b := s.do(t, "POST", s.admin+"/rpc", "", []map[string]any{{"jsonrpc": "2.0", "id": 1, "method": method, "params": params}}, 200)
	var resp []struct {
		Result map[string]any
		Error  map[string]any
	}
	if err := json.Unmarshal(b, &resp); err != nil || len(resp) != 1 {
		t.Fatalf("%s: %s", method, b)
	}
	if resp[0].Error != nil {
		t.Fatalf("%s: error %v", method, resp[0].Error)
	}
	return resp[0].Result
}

// TestWalletHearsEveryStep is the flow vaspgate exists for, through the assembled service:
// a SEP-6 deposit waits on KYC, the wallet provides it through SEP-12 with a callback
// registered, an operator decides, the business moves the deposit on by RPC. The wallet's
// receiver must get every status change once, in order, each signed with the key from
// stellar.toml, and nothing for changes that are not changes.
func TestWalletHearsEveryStep(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			w := testkit.NewWallet(t)
			s := start(t, d, w)
			user := keypair.MustRandom()
			token := s.login(t, user)
			sep6URL, sep12URL := w.URL+"/sep6", w.URL+"/sep12"

			// A deposit before any KYC: SEP-6's answer is the fields to send, and nothing is
			// created (transfer.Admit).
			q := url.Values{"asset_code": {"USDC"}, "account": {user.Address()}, "funding_method": {"SEPA"},
				"amount": {"100"}, "on_change_callback": {sep6URL}}
			_, b := s.do(t, "GET", s.public+"/sep6/deposit?"+q.Encode(), token, nil, 403)
			var needs struct {
				Type   string
				Fields []string
			}
			json.Unmarshal(b, &needs)
			if needs.Type != "non_interactive_customer_info_needed" || len(needs.Fields) != 3 {
				t.Fatalf("deposit before KYC: %s", b)
			}

			// KYC: one field of three. The customer needs more info.
			_, b = s.do(t, "PUT", s.public+"/sep12/customer", token, map[string]string{"type": "sep6", "first_name": "Ada"}, 202)
			var cust struct{ ID string }
			json.Unmarshal(b, &cust)
			s.do(t, "PUT", s.public+"/sep12/customer/callback", token, map[string]string{"id": cust.ID, "url": sep12URL}, 200)

			// The deposit, with the wallet's callback URL, now waits on the customer's update.
			_, b = s.do(t, "GET", s.public+"/sep6/deposit?"+q.Encode(), token, nil, 200)
			var dep struct{ ID string }
			json.Unmarshal(b, &dep)
			_, b = s.do(t, "GET", s.public+"/sep6/transaction?id="+dep.ID, token, nil, 200)
			if !strings.Contains(string(b), `"status":"pending_customer_info_update"`) {
				t.Fatalf("new deposit of a customer who needs info: %s", b)
			}

			// The rest of the fields: PROCESSING, and the deposit goes to the anchor.
			s.do(t, "PUT", s.public+"/sep12/customer", token, map[string]string{"id": cust.ID, "type": "sep6", "last_name": "Lovelace", "email_address": "ada@example.com"}, 202)
			// The operator accepts; then changes nothing (ACCEPTED again).
			s.do(t, "PUT", s.admin+"/admin/v1/customers/"+cust.ID+"/status", adminToken, map[string]any{"status": "ACCEPTED"}, 200)
			s.do(t, "PUT", s.admin+"/admin/v1/customers/"+cust.ID+"/status", adminToken, map[string]any{"status": "ACCEPTED"}, 200)

			// The business moves the deposit to completion.
			usd := func(a string) map[string]any { return map[string]any{"amount": a, "asset": "iso4217:USD"} }
			s.rpc(t, "request_offchain_funds", map[string]any{"transaction_id": dep.ID, "amount_in": usd("100"),
				"amount_out": map[string]any{"amount": "99", "asset": "stellar:USDC"}, "fee_details": map[string]any{"total": "1", "asset": "iso4217:USD"}})
			s.rpc(t, "notify_offchain_funds_received", map[string]any{"transaction_id": dep.ID, "amount_in": usd("100"),
				"amount_out": map[string]any{"amount": "99", "asset": "stellar:USDC"}, "fee_details": map[string]any{"total": "1", "asset": "iso4217:USD"}})
			s.rpc(t, "notify_onchain_funds_sent", map[string]any{"transaction_id": dep.ID,
				"stellar_transaction_id": "9a5e8d9c1d3b6a7f2e4c0b8a6d4f2e1c3b5a7d9f1e3c5b7a9d1f3e5c7b9a1d3f"})

			wantSEP12 := []string{"NEEDS_INFO", "PROCESSING", "ACCEPTED"}[1:] // registered after NEEDS_INFO
			// Created in pending_customer_info_update (read above); every change after reaches
			// the wallet.
			wantSEP6 := []string{"pending_anchor", "pending_user_transfer_start", "pending_anchor", "completed"}

			// The wallet checks each callback's signature with the key from stellar.toml.
			for i, r := range w.Wait("/sep12", len(wantSEP12), 30*time.Second) {
				var c struct{ ID, Status string }
				json.Unmarshal(r.Body, &c)
				if c.ID != cust.ID || c.Status != wantSEP12[i] {
					t.Errorf("SEP-12 callback %d = %s %s, want %s %s", i, c.ID, c.Status, cust.ID, wantSEP12[i])
				}
			}
			for i, r := range w.Wait("/sep6", len(wantSEP6), 30*time.Second) {
				var c struct{ Transaction struct{ ID, Status string } }
				json.Unmarshal(r.Body, &c)
				if c.Transaction.ID != dep.ID || c.Transaction.Status != wantSEP6[i] {
					t.Errorf("SEP-6 callback %d = %s %s, want %s %s", i, c.Transaction.ID, c.Transaction.Status, dep.ID, wantSEP6[i])
				}
			}

			// Nothing else is on its way: once the engine has recorded the last answer, it
			// holds exactly the deliveries the wallet received (no spurious callbacks), all
			// delivered.
			list := s.settled(t)
			if got, want := len(list), len(wantSEP12)+len(wantSEP6); got != want {
				t.Errorf("engine holds %d deliveries, want %d", got, want)
			}
			for _, st := range list {
				if st != "delivered" {
					t.Errorf("delivery status %q, want delivered", st)
				}
			}
		})
	}
}

// settled waits until every delivery the engine holds has its final answer recorded (up to
// 30 s) and returns their statuses.
func (s *stack) settled(t *testing.T) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, b := s.do(t, "GET", s.admin+"/admin/v1/deliveries?limit=200", adminToken, nil, 200)
		var list struct {
			Deliveries []struct{ Status string } `json:"deliveries"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		var statuses []string
		done := true
		for _, d := range list.Deliveries {
			statuses = append(statuses, d.Status)
			done = done && (d.Status == "delivered" || d.Status == "failed")
		}
		if done || time.Now().After(deadline) {
			return statuses
		}
		time.Sleep(20 * time.Millisecond) // polling the engine's recorded state
	}
}
