package sep31http_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"github.com/stellar/go-stellar-sdk/network"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/kyc/kychttp"
	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer/sep31http"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

const issuer = "GDRHDSTZ4PK6VI3WL224XBJFEB6CUXQESTQPXYIB3KGITRLL7XVE4NWV"

var usdc = "stellar:USDC:" + issuer

type bench struct {
	url    string
	auth   *stellar.Auth
	stack  *rpctest.Stack
	quotes *quote.Service
	kyc    *kyc.Service
	rpcURL string
}

func setup(t *testing.T, db *store.DB) *bench {
	t.Helper()
	s := rpctest.New(t, db, rpctest.Options{})
	auth, err := stellar.New(testkit.StellarOptions(stellar.Options{NetworkPassphrase: network.TestNetworkPassphrase, SigningSeed: s.SigningSeed,
		PublicURL: "http://localhost:8000", LedgerMode: stellar.LedgerNone}))
	if err != nil {
		t.Fatal(err)
	}
	methods := []quote.DeliveryMethod{{Name: "SEPA"}, {Name: "SWIFT"}}
	qs := quote.New(quote.Options{DB: db, Outbox: s.Engine.Outbox(),
		Assets: []quote.Asset{{Asset: usdc, Decimals: 7}, {Asset: "iso4217:EUR", Decimals: 2, BuyDeliveryMethods: methods}},
		Rates:  quote.StaticRates{Pairs: []quote.StaticPair{{Sell: usdc, Buy: "iso4217:EUR", Price: "1.08", FeeFixed: "1"}}},
	})
	walletHost, _ := url.Parse(s.Wallet.URL)
	allow, _ := callback.ParseAllow([]string{"127.0.0.0/8"})
	policy := callback.URLPolicy{Guard: callback.Guard{Allow: allow}, HTTPHosts: []string{walletHost.Host}}
	// The builtin SEP-12 back end with the SEP-31 types: the sending anchor registers its
	// customers through SEP-12 and an operator decides.
	key := make([]byte, seal.KeySize)
	_, _ = rand.Read(key)
	sealer, _ := seal.New(key)
	field := func(d string) kyc.Field { return kyc.Field{Type: "string", Description: d} }
	k, err := kyc.New(testkit.KYCOptions(kyc.Options{Backend: kyc.Builtin, Types: map[string]kyc.CustomerType{
		"sep31-sender":   {Fields: map[string]kyc.Field{"first_name": field("first name"), "last_name": field("last name")}},
		"sep31-receiver": {Fields: map[string]kyc.Field{"first_name": field("first name"), "bank_account_number": field("account")}},
	}, DB: db, Sealer: sealer, Outbox: s.Engine.Outbox(), Transactions: s.Transfers, CallbackURLs: policy,
		StatusHooks: []kyc.StatusHook{s.Transfers.CustomerStatusHook}, Logger: slog.New(slog.DiscardHandler)}))
	if err != nil {
		t.Fatal(err)
	}
	h := sep31http.New(sep31http.Options{
		Assets: []sep31http.Asset{{Code: "USDC", Issuer: issuer, Account: issuer, QuotesSupported: true,
			MinAmount: "1", MaxAmount: "1000", FeeFixed: "1", FundingMethods: []string{"SEPA", "SWIFT"},
			SenderTypes: map[string]string{"sep31-sender": "sender"}, ReceiverTypes: map[string]string{"sep31-receiver": "receiver"}}},
		Transfers: s.Transfers, Customers: k, Quotes: qs, Callbacks: policy,
	})
	mux := http.NewServeMux()
	sep := stellarhttp.New(auth, nil)
	sep31http.Register(mux, h, sep.RequireWith(sep31http.Refuse))
	kychttp.Register(mux, k, sep.RequireWith(kychttp.Refuse))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r, err := rpc.New(rpc.Options{BatchSizeLimit: 40, Transfers: s.Transfers, Customers: k, Quotes: qs})
	if err != nil {
		t.Fatal(err)
	}
	rsrv := httptest.NewServer(r)
	t.Cleanup(rsrv.Close)
	return &bench{url: srv.URL, auth: auth, stack: s, quotes: qs, kyc: k, rpcURL: rsrv.URL}
}

// sendingAnchor is the other side of SEP-31, written from the SEP: an identity with a SEP-10
// token that registers customers, asks for quotes and posts transactions.
type sendingAnchor struct {
	id    wallet.Identity
	token string
}

func (b *bench) anchor(t *testing.T) sendingAnchor {
	kp := keypair.MustRandom()
	tok, err := b.auth.IssueToken(kp.Address(), "")
	if err != nil {
		t.Fatal(err)
	}
	return sendingAnchor{id: wallet.Identity{Account: kp.Address()}, token: tok}
}

func (b *bench) do(t *testing.T, a sendingAnchor, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.url+path, rd)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// putCustomer is SEP-12 PUT /customer as JSON; id empty creates the customer.
func (b *bench) putCustomer(t *testing.T, a sendingAnchor, id string, fields map[string]any) string {
	t.Helper()
	if id != "" {
		fields["id"] = id
	}
	code, body := b.do(t, a, "PUT", "/sep12/customer", fields)
	if code != 202 && code != 200 {
		t.Fatalf("SEP-12 PUT: %d %v", code, body)
	}
	return body["id"].(string)
}

func (b *bench) rpc(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	resp, err := http.Post(b.rpcURL, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *rpc.Error      `json:"error"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &out); err != nil || out.Error != nil {
		t.Fatalf("%s: %s", method, body)
	}
	return out.Result
}

// TestSEP31Receive runs the receive flow end to end on both engines: SEP-31 /info, a
// receiver in NEEDS_INFO refused with customer_info_needed, a firm SEP-38 quote, POST
// /transactions, ownership, the callback URL, the business's RPC calls (funds received,
// customer info needed then accepted, paid out) and the signed SEP-31 callbacks in order,
// with the sending anchor's endpoint down during the burst.
func TestSEP31Receive(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db)
		sa := b.anchor(t)

		code, info := b.do(t, sendingAnchor{}, "GET", "/sep31/info", nil)
		asset, _ := info["receive"].(map[string]any)["USDC"].(map[string]any)
		if code != 200 || asset["quotes_supported"] != true || asset["min_amount"] != float64(1) {
			t.Fatalf("info: %d %v", code, info)
		}
		if types := asset["sep12"].(map[string]any)["receiver"].(map[string]any)["types"].(map[string]any); types["sep31-receiver"] == nil {
			t.Errorf("info sep12 receiver types: %v", asset["sep12"])
		}

		// SEP-12: the sender complete, the receiver still missing a field (NEEDS_INFO); the
		// sending anchor hears of its customers' changes at its SEP-12 callback.
		sender := kyc.Customer{ID: b.putCustomer(t, sa, "", map[string]any{"type": "sep31-sender", "first_name": "Ada", "last_name": "Lovelace"})}
		receiver := kyc.Customer{ID: b.putCustomer(t, sa, "", map[string]any{"type": "sep31-receiver", "first_name": "Grace"})}
		if code, body := b.do(t, sa, "PUT", "/sep12/customer/callback", map[string]any{"id": receiver.ID, "url": b.stack.Wallet.URL + "/sep12"}); code != 204 && code != 200 {
			t.Fatalf("SEP-12 callback: %d %v", code, body)
		}
		post := map[string]any{"amount": 100, "asset_code": "USDC", "asset_issuer": issuer, "funding_method": "SEPA",
			"sender_id": sender.ID, "receiver_id": receiver.ID}

		if code, _ := b.do(t, sendingAnchor{}, "POST", "/sep31/transactions", post); code != 403 {
			t.Errorf("POST without token: %d, want 403", code)
		}
		code, body := b.do(t, sa, "POST", "/sep31/transactions", post)
		if code != 400 || body["error"] != "customer_info_needed" || body["type"] != "sep31-receiver" {
			t.Fatalf("receiver NEEDS_INFO: %d %v", code, body)
		}
		noSender := map[string]any{"amount": "100", "asset_code": "USDC", "funding_method": "SEPA", "receiver_id": receiver.ID}
		if code, body := b.do(t, sa, "POST", "/sep31/transactions", noSender); code != 400 || body["type"] != "sep31-sender" {
			t.Errorf("no sender_id: %d %v", code, body)
		}
		for _, bad := range []map[string]any{
			{"amount": 100, "asset_code": "EURC", "funding_method": "SEPA", "sender_id": sender.ID, "receiver_id": receiver.ID},
			{"amount": 5000, "asset_code": "USDC", "funding_method": "SEPA", "sender_id": sender.ID, "receiver_id": receiver.ID},
			{"amount": 100, "asset_code": "USDC", "sender_id": sender.ID, "receiver_id": receiver.ID},
			{"amount": 100, "asset_code": "USDC", "funding_method": "CASH", "sender_id": sender.ID, "receiver_id": receiver.ID},
			{"amount": 100, "asset_code": "USDC", "funding_method": "SEPA", "refund_memo": "1", "sender_id": sender.ID, "receiver_id": receiver.ID},
		} {
			if code, _ := b.do(t, sa, "POST", "/sep31/transactions", bad); code != 400 {
				t.Errorf("POST %v: %d, want 400", bad, code)
			}
		}
		b.putCustomer(t, sa, receiver.ID, map[string]any{"type": "sep31-receiver", "bank_account_number": "DE89370400440532013000"})

		// Another sending anchor cannot use these customers.
		other := b.anchor(t)
		if code, _ := b.do(t, other, "POST", "/sep31/transactions", post); code != 404 {
			t.Errorf("another anchor's customers: %d, want 404", code)
		}

		// A firm quote, then the transaction that uses it.
		qreq := map[string]any{"sell_asset": usdc, "buy_asset": "iso4217:EUR", "sell_amount": "109", "buy_delivery_method": "SEPA", "context": "sep31"}
		q, err := b.quotes.Create(t.Context(), sa.id, quote.Request{SellAsset: usdc, BuyAsset: "iso4217:EUR", SellAmount: "109",
			BuyDeliveryMethod: "SEPA", Context: quote.ContextSEP31})
		if err != nil {
			t.Fatal(err, qreq)
		}
		withQuote := map[string]any{"amount": "108", "asset_code": "USDC", "funding_method": "SEPA", "quote_id": q.ID,
			"destination_asset": "iso4217:EUR", "sender_id": sender.ID, "receiver_id": receiver.ID}
		if code, body := b.do(t, sa, "POST", "/sep31/transactions", withQuote); code != 400 || !strings.Contains(body["error"].(string), "sell_amount") {
			t.Errorf("amount not the quote's: %d %v", code, body)
		}
		withQuote["amount"] = "109"
		if code, _ := b.do(t, other, "POST", "/sep31/transactions", withQuote); code != 404 {
			t.Errorf("another anchor's quote (and customers): %d", code)
		}
		code, created := b.do(t, sa, "POST", "/sep31/transactions", withQuote)
		if code != 201 || created["stellar_account_id"] != issuer || created["stellar_memo_type"] != "id" || created["stellar_memo"] == "" {
			t.Fatalf("POST with quote: %d %v", code, created)
		}
		id := created["id"].(string)
		if code, _ := b.do(t, sa, "POST", "/sep31/transactions", withQuote); code != 400 {
			t.Errorf("quote used twice: %d", code)
		}

		code, got := b.do(t, sa, "GET", "/sep31/transactions/"+id, nil)
		tx, _ := got["transaction"].(map[string]any)
		if code != 200 || tx["status"] != "pending_sender" || tx["amount_in"] != "109" || tx["amount_in_asset"] != usdc ||
			tx["amount_out"] != "100" || tx["amount_out_asset"] != "iso4217:EUR" || tx["quote_id"] != q.ID || tx["stellar_memo"] != created["stellar_memo"] {
			t.Fatalf("GET: %d %v", code, got)
		}
		if code, _ := b.do(t, other, "GET", "/sep31/transactions/"+id, nil); code != 404 {
			t.Errorf("another anchor reads the transaction: %d", code)
		}
		if code, _ := b.do(t, sa, "PATCH", "/sep31/transactions/"+id, map[string]any{"fields": map[string]any{}}); code != 400 {
			t.Errorf("PATCH outside pending_transaction_info_update: %d", code)
		}

		// Callback URL: policy-checked, owner only.
		if code, _ := b.do(t, sa, "PUT", "/sep31/transactions/"+id+"/callback", map[string]any{"url": "http://169.254.169.254/x"}); code != 400 {
			t.Errorf("callback to the metadata address: %d", code)
		}
		cb := map[string]any{"url": b.stack.Wallet.URL + "/sep31"}
		if code, _ := b.do(t, other, "PUT", "/sep31/transactions/"+id+"/callback", cb); code != 404 {
			t.Errorf("another anchor sets the callback: %d", code)
		}
		if code, _ := b.do(t, sa, "PUT", "/sep31/transactions/"+id+"/callback", cb); code != 204 {
			t.Fatalf("PUT callback: %d", code)
		}

		// The business works the transaction while the sending anchor's endpoint is down.
		b.stack.Wallet.SetDown(true)
		b.rpc(t, "notify_onchain_funds_received", map[string]any{"transaction_id": id, "stellar_transaction_id": strings.Repeat("ab", 32)})
		// The receiver's bank refuses the account number: an operator asks for it again and
		// the business tells vaspgate, which asks the sending anchor (SEP-31 pending
		// customer info update); its new SEP-12 PUT moves the transaction back.
		if _, err := b.kyc.Decide(t.Context(), receiver.ID, kyc.Decision{Type: "sep31-receiver", Status: kyc.StatusNeedsInfo,
			Fields: []string{"bank_account_number"}, Message: "account closed"}); err != nil {
			t.Fatal(err)
		}
		b.rpc(t, "notify_customer_info_updated", map[string]any{"transaction_id": id, "customer_id": receiver.ID, "customer_type": "sep31-receiver"})
		_, got = b.do(t, sa, "GET", "/sep31/transactions/"+id, nil)
		if st := got["transaction"].(map[string]any)["status"]; st != "pending_customer_info_update" {
			t.Fatalf("after NEEDS_INFO: %v", st)
		}
		b.putCustomer(t, sa, receiver.ID, map[string]any{"type": "sep31-receiver", "bank_account_number": "DE02120300000000202051"})
		if _, err := b.kyc.Decide(t.Context(), receiver.ID, kyc.Decision{Type: "sep31-receiver", Status: kyc.StatusAccepted}); err != nil {
			t.Fatal(err)
		}
		res := b.rpc(t, "notify_offchain_funds_sent", map[string]any{"transaction_id": id, "external_transaction_id": "sepa-1"})
		var platform struct {
			SEP       string `json:"sep"`
			Kind      string `json:"kind"`
			Status    string `json:"status"`
			Customers struct {
				Sender, Receiver struct{ ID string }
			} `json:"customers"`
		}
		_ = json.Unmarshal(res, &platform)
		if platform.SEP != "31" || platform.Kind != "receive" || platform.Status != "completed" ||
			platform.Customers.Sender.ID != sender.ID || platform.Customers.Receiver.ID != receiver.ID {
			t.Errorf("platform transaction: %s", res)
		}
		b.stack.Wallet.SetDown(false)

		// Every status change reaches the sending anchor, signed, in order.
		var statuses []string
		for _, r := range b.stack.Wallet.Wait("/sep31", 4, 60*time.Second) {
			var body struct {
				Transaction struct {
					ID, Status string
				} `json:"transaction"`
			}
			_ = json.Unmarshal(r.Body, &body)
			if body.Transaction.ID == id {
				statuses = append(statuses, body.Transaction.Status)
			}
		}
		want := []string{"pending_receiver", "pending_customer_info_update", "pending_receiver", "completed"}
		if strings.Join(statuses, ",") != strings.Join(want, ",") {
			t.Errorf("callbacks %v, want %v", statuses, want)
		}

		// The sending anchor's SEP-12 callbacks for the receiver, in order, end ACCEPTED.
		// PROCESSING (account given), NEEDS_INFO, PROCESSING (given again), ACCEPTED.
		var kycStatuses []string
		for n := 1; len(kycStatuses) < 4; n++ {
			kycStatuses = kycStatuses[:0]
			for _, r := range b.stack.Wallet.Wait("/sep12", n, 60*time.Second) {
				var c struct{ ID, Status string }
				_ = json.Unmarshal(r.Body, &c)
				if c.ID == receiver.ID {
					kycStatuses = append(kycStatuses, c.Status)
				}
			}
		}
		if want := []string{"PROCESSING", "NEEDS_INFO", "PROCESSING", "ACCEPTED"}; !slices.Equal(kycStatuses, want) {
			t.Errorf("SEP-12 callbacks for the receiver: %v, want %v", kycStatuses, want)
		}

		// get_quote as Anchor Platform: the quote with the transaction that used it.
		var gq quote.PlatformQuote
		_ = json.Unmarshal(b.rpc(t, "get_quote", map[string]any{"quote_id": q.ID}), &gq)
		if gq.ID != q.ID || gq.TransactionID != id || gq.Creator.Account != sa.id.Account {
			t.Errorf("get_quote: %+v", gq)
		}
	})
}
