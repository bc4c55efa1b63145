package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/vaspgate/vaspgate/internal/kyc/kychttp"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

// kycAnchor is vaspgate with SEP-1, SEP-10 and SEP-12 on the public listener, the operator
// API on an admin listener, and a running callback engine: what `serve` wires.
type kycAnchor struct {
	*anchor
	admin *httptest.Server
	db    *store.DB
}

func startKYCAnchor(t *testing.T, db *store.DB) *kycAnchor {
	t.Helper()
	seed := keypair.MustRandom().Seed()
	cfg := stellar.Options{
		NetworkPassphrase: "Test SDF Network ; September 2015",
		SigningSeed:       seed,
		PublicURL:         "http://" + homeDomain,
		LedgerMode:        stellar.LedgerNone,
		TOML: stellar.TOML{Currencies: []stellar.Currency{{
			Code: "USDC", Issuer: keypair.MustRandom().Address(), Status: "test", DisplayDecimals: 2,
			Name: "USD Coin", Desc: "Test dollar", IsAssetAnchored: true, AnchorAssetType: "fiat", AnchorAsset: "USD",
		}}},
	}
	log := slog.New(slog.DiscardHandler)
	cfg.Logger = log
	auth, err := stellar.New(testkit.StellarOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	co := testkit.FastCallbackOptions(seed)
	co.PollInterval, co.Logger = 20*time.Millisecond, log
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
	svc, err := kyc.New(testkit.KYCOptions(kyc.Options{
		Types: map[string]kyc.CustomerType{"sep6": {Fields: map[string]kyc.Field{
			"first_name":     {Description: "first name"},
			"last_name":      {Description: "last name"},
			"email_address":  {Description: "email address"},
			"photo_id_front": {Type: "binary", Description: "photo of the ID", Optional: true},
		}}},
		DB: db, Sealer: ring, Outbox: eng.Outbox(), Logger: log,
		CallbackURLs: callback.URLPolicy{HTTPHosts: []string{"127.0.0.1"},
			Guard: callback.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	sh := stellarhttp.New(auth, log)
	mux := http.NewServeMux()
	sh.Register(mux)
	kychttp.Register(mux, svc, sh.RequireWith(kychttp.Refuse))
	adminMux := http.NewServeMux()
	kychttp.RegisterAdmin(adminMux, svc)

	a := &anchor{auth: auth, hosts: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.hosts[r.Host]++
		a.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	admin := httptest.NewServer(adminMux)
	t.Cleanup(func() {
		a.srv.Close()
		admin.Close()
		cancel()
		<-done
	})
	return &kycAnchor{anchor: a, admin: admin, db: db}
}

// tomlSigningKey reads SIGNING_KEY from the anchor's stellar.toml, as a wallet does.
func tomlSigningKey(t *testing.T, a *kycAnchor) string {
	t.Helper()
	resp, err := http.Get(a.srv.URL + "/.well-known/stellar.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.TrimSpace(k) == "SIGNING_KEY" {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	t.Fatal("stellar.toml has no SIGNING_KEY")
	return ""
}

func send(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestWalletSEP12 runs the wallet SDK through SEP-10 and SEP-12 against vaspgate, then the
// end-to-end callback flow: the wallet registered a callback; the customer goes
// NEEDS_INFO -> PROCESSING -> ACCEPTED in quick succession; the wallet's receiver gets the
// three bodies in order, each signed with the SIGNING_KEY of stellar.toml, and nothing after
// ACCEPTED.
func TestWalletSEP12(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := startKYCAnchor(t, db)
		// The wallet's callback endpoint trusts the SIGNING_KEY of stellar.toml and checks
		// every callback's signature with it (testkit.Wallet).
		rcv := testkit.NewWallet(t, tomlSigningKey(t, a))
		t.Setenv("VASPGATE_CALLBACK_URL", rcv.URL+"/kyc")
		out := runWallet(t, a.anchor, "sep10,sep12")
		r := out["sep12"]
		if r == nil {
			t.Fatalf("no sep12 result: %v", out)
		}
		obj := func(k string) map[string]any {
			m, _ := r[k].(map[string]any)
			if m == nil {
				t.Fatalf("%s missing: %v", k, r)
			}
			return m
		}
		if f := obj("fresh"); f["status"] != "NEEDS_INFO" || f["id"] != nil || len(f["fields"].(map[string]any)) != 4 {
			t.Errorf("new customer: %v", f)
		}
		if r["sdk_fresh"] != "CustomerNotFoundError" {
			t.Errorf("the SDK reads a new customer as %v", r["sdk_fresh"])
		}
		id, _ := r["id"].(string)
		if id == "" || r["updated_id"] != id {
			t.Fatalf("ids: %v / %v", r["id"], r["updated_id"])
		}
		if m := obj("after_add"); m["status"] != "PROCESSING" || m["id"] != id {
			t.Errorf("after add: %v", m)
		}
		if m := obj("by_token"); m["id"] != id {
			t.Errorf("by token: %v", m)
		}
		if pf := obj("after_binary")["provided_fields"].(map[string]any); pf["photo_id_front"] == nil {
			t.Errorf("binary field not stored: %v", pf)
		}
		if r["memo_id"] == id || obj("memo_get")["id"] != r["memo_id"] {
			t.Errorf("memo customer: %v %v", r["memo_id"], obj("memo_get"))
		}
		if r["foreign_get"] != float64(404) || r["foreign_put"] != float64(404) {
			t.Errorf("foreign id: GET %v PUT %v, want 404", r["foreign_get"], r["foreign_put"])
		}
		if r["callback"] != float64(200) {
			t.Fatalf("callback registration: %v", r["callback"])
		}
		if m := obj("after_delete"); m["id"] != nil || m["status"] != "NEEDS_INFO" {
			t.Errorf("after delete: %v", m)
		}
		token, _ := r["token"].(string)

		// End to end: three changes in quick succession, before the engine sends anything.
		if code, b := send(t, "PUT", a.admin.URL+"/admin/v1/customers/"+id+"/status", "",
			map[string]any{"status": "NEEDS_INFO", "fields": []string{"email_address"}, "message": "unreadable"}); code != 200 {
			t.Fatalf("NEEDS_INFO: %d %s", code, b)
		}
		if code, b := send(t, "PUT", a.srv.URL+"/sep12/customer", token,
			map[string]string{"id": id, "email_address": "ada@example.org"}); code != 202 {
			t.Fatalf("resend: %d %s", code, b)
		}
		if code, b := send(t, "PUT", a.admin.URL+"/admin/v1/customers/"+id+"/status", "",
			map[string]any{"status": "ACCEPTED"}); code != 200 {
			t.Fatalf("ACCEPTED: %d %s", code, b)
		}
		// After ACCEPTED the registration has ended: this change reaches nobody.
		if code, b := send(t, "PUT", a.admin.URL+"/admin/v1/customers/"+id+"/status", "",
			map[string]any{"status": "PROCESSING"}); code != 200 {
			t.Fatalf("PROCESSING: %d %s", code, b)
		}
		for i, want := range []string{"NEEDS_INFO", "PROCESSING", "ACCEPTED"} {
			c := rcv.Next(15 * time.Second)
			var m map[string]any
			if err := json.Unmarshal(c.Body, &m); err != nil {
				t.Fatal(err)
			}
			if m["status"] != want || m["id"] != id || m["type"] != "sep6" {
				t.Fatalf("callback %d: %s, want status %s", i, c.Body, want)
			}
		}
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM callback_deliveries WHERE subject = ?`,
			kyc.Subject(id, "sep6")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("%d callbacks recorded for the customer, want 3 (nothing after ACCEPTED)", n)
		}
		// Everything recorded was delivered; nothing else is in flight to the receiver.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var open int
			_ = db.QueryRowContext(context.Background(), `SELECT count(*) FROM callback_deliveries WHERE subject = ? AND status <> 'delivered'`,
				kyc.Subject(id, "sep6")).Scan(&open)
			if open == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d callbacks not delivered", open)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := rcv.Got(""); len(got) != 3 {
			t.Fatalf("the wallet received %d callbacks, want 3 (nothing after ACCEPTED): last %s", len(got), got[len(got)-1].Body)
		}
	})
}
