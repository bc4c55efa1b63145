package transferhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/stellar/go-stellar-sdk/network"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/transfer/transferhttp"
)

const issuer = "GBDBRZWIOSZE5NTUUDBKHXFXXHCZSGGOJU3FDMMNVZPDF4L3BSUE27CR"

type bundle struct {
	stack *rpctest.Stack
	url   string
	auth  *stellar.Auth
}

func setup(t *testing.T, db *store.DB) *bundle {
	t.Helper()
	return setupKYC(t, db, "none")
}

// setupKYC is setup with the requester's KYC read from the stack's business server under
// the given transfer.request_kyc ("" is the default, sep6); setup itself reads no KYC.
func setupKYC(t *testing.T, db *store.DB, requestKYC string) *bundle {
	t.Helper()
	s := rpctest.New(t, db, rpctest.Options{})
	auth, err := stellar.New(testkit.StellarOptions(stellar.Options{NetworkPassphrase: network.TestNetworkPassphrase, SigningSeed: s.SigningSeed,
		PublicURL: "http://localhost:8000", LedgerMode: stellar.LedgerNone}))
	if err != nil {
		t.Fatal(err)
	}
	walletHost, _ := url.Parse(s.Wallet.URL)
	h := transferhttp.New(transferhttp.Options{
		RequestKYC: strings.TrimPrefix(requestKYC, "none"), Assets: []transferhttp.Asset{{
			Code: "USDC", Issuer: issuer, OffchainAsset: "iso4217:USD", DistributionAccount: issuer,
			Deposit:  transferhttp.Op{Enabled: true, Exchange: true, MinAmount: "1", MaxAmount: "1000", FundingMethods: []string{"SEPA"}},
			Withdraw: transferhttp.Op{Enabled: true, FundingMethods: []string{"SEPA", "SWIFT"}},
		}},
		Transfers: s.Transfers,
		Customers: customers(s, requestKYC),
		Callbacks: callback.URLPolicy{Guard: callback.Guard{Allow: mustAllow(t)}, HTTPHosts: []string{walletHost.Host}},
	})
	mux := http.NewServeMux()
	transferhttp.Register(mux, h, stellarhttp.New(auth, nil).RequireWith(transferhttp.Refuse))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &bundle{stack: s, url: srv.URL, auth: auth}
}

func customers(s *rpctest.Stack, requestKYC string) transferhttp.Customers {
	if requestKYC == "none" {
		return nil
	}
	return s.KYC
}

func mustAllow(t *testing.T) []netip.Prefix {
	p, err := callback.ParseAllow([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *bundle) token(t *testing.T, sub string) string {
	t.Helper()
	tok, err := b.auth.IssueToken(sub, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (b *bundle) get(t *testing.T, token, path string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m, resp.Header
}

func TestSEP6(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		b := setup(t, db)
		user := b.stack.User.Account
		tok := b.token(t, user)
		other := b.token(t, user+":42")
		stranger, _ := keypair.Random()

		// /info needs no token and lists the configured asset.
		status, info, hdr := b.get(t, "", "/sep6/info")
		if status != 200 || hdr.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("info: %d %v", status, hdr)
		}
		if dep := info["deposit"].(map[string]any)["USDC"].(map[string]any); dep["enabled"] != true || dep["min_amount"] != 1.0 {
			t.Fatalf("info deposit = %v", dep)
		}
		if _, ok := info["deposit-exchange"].(map[string]any)["USDC"]; !ok {
			t.Fatalf("info deposit-exchange = %v", info["deposit-exchange"])
		}

		cb := url.QueryEscape(b.stack.Wallet.URL + "/cb")
		tests := []struct {
			name, token, path string
			status            int
			errPart           string
		}{
			{"no token", "", "/sep6/deposit?asset_code=USDC&funding_method=SEPA&account=" + user, 403, ""},
			{"no asset", tok, "/sep6/deposit?funding_method=SEPA&account=" + user, 400, "asset_code is required"},
			{"unknown asset", tok, "/sep6/deposit?asset_code=EURC&funding_method=SEPA&account=" + user, 400, "not supported"},
			{"no funding method", tok, "/sep6/deposit?asset_code=USDC&account=" + user, 400, "funding_method is required"},
			{"unknown funding method", tok, "/sep6/deposit?asset_code=USDC&funding_method=CASH&account=" + user, 400, "funding_method CASH"},
			{"no account", tok, "/sep6/deposit?asset_code=USDC&funding_method=SEPA", 400, "account is required"},
			{"bad account", tok, "/sep6/deposit?asset_code=USDC&funding_method=SEPA&account=nope", 400, "account must be"},
			{"amount too small", tok, "/sep6/deposit?asset_code=USDC&funding_method=SEPA&amount=0.5&account=" + user, 400, "below min_amount"},
			{"amount not a number", tok, "/sep6/deposit?asset_code=USDC&funding_method=SEPA&amount=1e3&account=" + user, 400, "positive decimal"},
			{"callback not https", tok, "/sep6/deposit?asset_code=USDC&funding_method=SEPA&account=" + user + "&on_change_callback=http://example.com/cb", 400, "must be https"},
			{"callback to a private address", tok, "/sep6/deposit?asset_code=USDC&funding_method=SEPA&account=" + user + "&on_change_callback=https://10.0.0.1/cb", 400, "may not reach"},
			{"refund memo alone", tok, "/sep6/withdraw?asset_code=USDC&funding_method=SEPA&refund_memo=1", 400, "together"},
			{"withdraw exchange not offered", tok, "/sep6/withdraw-exchange?source_asset=USDC&destination_asset=iso4217:USD&amount=5&funding_method=SEPA", 404, ""},
			{"transaction needs a key", tok, "/sep6/transaction", 400, "one of id"},
			{"transactions need asset", tok, "/sep6/transactions", 400, "asset_code is required"},
			{"transactions of another account", tok, "/sep6/transactions?asset_code=USDC&account=" + stranger.Address(), 403, ""},
		}
		for _, tt := range tests {
			status, body, hdr := b.get(t, tt.token, tt.path)
			if status != tt.status || (tt.errPart != "" && !strings.Contains(body["error"].(string), tt.errPart)) {
				t.Errorf("%s: %d %v, want %d %q", tt.name, status, body, tt.status, tt.errPart)
			}
			if status != 404 && hdr.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("%s: no CORS header", tt.name)
			}
		}

		// A deposit with an on_change_callback; a withdrawal; a deposit-exchange.
		status, dep, _ := b.get(t, tok, "/sep6/deposit?asset_code=USDC&funding_method=SEPA&amount=10&account="+user+"&on_change_callback="+cb)
		if status != 200 || dep["id"] == nil {
			t.Fatalf("deposit: %d %v", status, dep)
		}
		id := dep["id"].(string)
		status, wd, _ := b.get(t, tok, "/sep6/withdraw?asset_code=USDC&type=SWIFT")
		if status != 200 || wd["account_id"] != issuer || wd["memo_type"] != "id" || wd["memo"] == "" {
			t.Fatalf("withdraw: %d %v", status, wd)
		}
		status, dx, _ := b.get(t, tok, "/sep6/deposit-exchange?destination_asset=USDC&source_asset=iso4217:USD&amount=5&funding_method=SEPA&account="+user)
		if status != 200 {
			t.Fatalf("deposit-exchange: %d %v", status, dx)
		}

		// The owner sees it; another memo of the same account does not.
		status, got, _ := b.get(t, tok, "/sep6/transaction?id="+id)
		txn := got["transaction"].(map[string]any)
		if status != 200 || txn["status"] != "incomplete" || txn["kind"] != "deposit" || txn["to"] != user {
			t.Fatalf("transaction: %d %v", status, got)
		}
		if status, _, _ := b.get(t, other, "/sep6/transaction?id="+id); status != 404 {
			t.Fatalf("another memo read the transaction: %d", status)
		}
		status, list, _ := b.get(t, tok, "/sep6/transactions?asset_code=USDC&kind=deposit,deposit-exchange")
		if status != 200 || len(list["transactions"].([]any)) != 2 {
			t.Fatalf("transactions: %d %v", status, list)
		}
		if status, list, _ := b.get(t, other, "/sep6/transactions?asset_code=USDC"); status != 200 || len(list["transactions"].([]any)) != 0 {
			t.Fatalf("another memo listed: %d %v", status, list)
		}

		// A status change (notify_customer_info_updated without customer_id: pending_anchor, as
		// Anchor Platform) reaches the on_change_callback (signed) and the client's URL.
		res := b.stack.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": id})
		if res.Error != nil {
			t.Fatalf("rpc: %+v", res.Error)
		}
		for _, path := range []string{"/cb", "/sep6"} {
			got := b.stack.Wallet.Wait(path, 1, 20*time.Second)
			var body struct {
				Transaction struct{ ID, Status string } `json:"transaction"`
			}
			if err := json.Unmarshal(got[0].Body, &body); err != nil || body.Transaction.ID != id || body.Transaction.Status != "pending_anchor" {
				t.Errorf("callback on %s: %s", path, got[0].Body)
			}
		}
	})
}

// SEP-6 (stellar-seps.md 5.1): an authenticated endpoint called without a valid token
// answers 403 {"type": "authentication_required"} — SEP-6's own answer, not the generic 401
// of the SEP-10 middleware.
func TestSEP6UnauthenticatedIs403AuthenticationRequired(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		b := setup(t, db)
		user := b.stack.User.Account
		for _, path := range []string{
			"/sep6/deposit?asset_code=USDC&funding_method=SEPA&account=" + user,
			"/sep6/withdraw?asset_code=USDC&funding_method=SEPA",
			"/sep6/deposit-exchange?destination_asset=USDC&source_asset=iso4217:USD&amount=5&funding_method=SEPA&account=" + user,
			"/sep6/transaction?id=x",
			"/sep6/transactions?asset_code=USDC",
		} {
			for _, token := range []string{"", "not-a-jwt"} {
				status, body, hdr := b.get(t, token, path)
				if status != http.StatusForbidden || body["type"] != "authentication_required" || hdr.Get("Access-Control-Allow-Origin") != "*" {
					t.Errorf("%s (token %q): %d %v %v", path, token, status, body, hdr)
				}
			}
		}
		if status, _, _ := b.get(t, "", "/sep6/info"); status != http.StatusOK {
			t.Errorf("/info without a token: %d", status)
		}
	})
}

// SEP-6 GET /transactions for an asset the anchor does not serve is a 400 with an error,
// not an empty list.
func TestSEP6TransactionsUnservedAssetIs400(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		b := setup(t, db)
		tok := b.token(t, b.stack.User.Account)
		status, body, _ := b.get(t, tok, "/sep6/transactions?asset_code=BADCODE")
		if status != http.StatusBadRequest || !strings.Contains(body["error"].(string), "BADCODE") {
			t.Fatalf("BADCODE: %d %v", status, body)
		}
		if status, body, _ := b.get(t, tok, "/sep6/transactions?asset_code=USDC"); status != http.StatusOK || body["transactions"] == nil {
			t.Fatalf("USDC: %d %v", status, body)
		}
	})
}

// SEP-6 keeps `incomplete` for a user who still has to complete KYC. A new deposit or
// withdrawal therefore starts from its requester's KYC: no customer yet is the
// non_interactive_customer_info_needed answer (nothing created), NEEDS_INFO waits in
// pending_customer_info_update, PROCESSING and ACCEPTED go to pending_anchor, REJECTED is
// customer_info_status denied. transfer.request_kyc: anchor_platform keeps Anchor
// Platform's behaviour (always incomplete).
func TestSEP6NewTransactionStartsFromCustomerKYC(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		b := setupKYC(t, db, "")
		ap := setupKYC(t, db, transferhttp.RequestKYCAnchorPlatform)
		user := b.stack.User.Account
		tok := b.token(t, user)
		deposit := "/sep6/deposit?asset_code=USDC&funding_method=SEPA&account=" + user

		status, body, _ := b.get(t, tok, deposit)
		if status != http.StatusForbidden || body["type"] != "non_interactive_customer_info_needed" ||
			fmt.Sprint(body["fields"]) != "[first_name]" {
			t.Fatalf("no customer: %d %v", status, body)
		}
		if _, list, _ := b.get(t, tok, "/sep6/transactions?asset_code=USDC"); len(list["transactions"].([]any)) != 0 {
			t.Fatalf("a transaction was created for a customer without KYC: %v", list)
		}

		for _, c := range []struct{ kyc, want string }{
			{kyc.StatusNeedsInfo, "pending_customer_info_update"},
			{kyc.StatusProcessing, "pending_anchor"},
			{kyc.StatusAccepted, "pending_anchor"},
		} {
			b.stack.Business.SetCustomer(kyc.Customer{ID: "c-" + c.kyc, Status: c.kyc}, user, "")
			for _, path := range []string{deposit, "/sep6/withdraw?asset_code=USDC&funding_method=SEPA"} {
				status, body, _ := b.get(t, tok, path)
				if status != http.StatusOK {
					t.Fatalf("%s %s: %d %v", c.kyc, path, status, body)
				}
				_, got, _ := b.get(t, tok, "/sep6/transaction?id="+body["id"].(string))
				txn := got["transaction"].(map[string]any)
				if txn["status"] != c.want {
					t.Errorf("%s %s: status %v, want %s", c.kyc, path, txn["status"], c.want)
				}
			}
			// Anchor Platform's behaviour: incomplete whatever the KYC.
			status, body, _ := ap.get(t, ap.token(t, ap.stack.User.Account), "/sep6/deposit?asset_code=USDC&funding_method=SEPA&account="+user)
			if status != http.StatusOK {
				t.Fatalf("anchor_platform: %d %v", status, body)
			}
			if got, _ := ap.stack.Transfers.Get(context.Background(), body["id"].(string)); got.Status != transfer.StatusIncomplete {
				t.Errorf("anchor_platform %s: %s, want incomplete", c.kyc, got.Status)
			}
		}

		b.stack.Business.SetCustomer(kyc.Customer{ID: "c-rejected", Status: kyc.StatusRejected, Message: "no"}, user, "")
		status, body, _ = b.get(t, tok, deposit)
		if status != http.StatusForbidden || body["type"] != "customer_info_status" || body["status"] != "denied" {
			t.Fatalf("rejected: %d %v", status, body)
		}
	})
}
