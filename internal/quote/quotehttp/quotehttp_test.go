package quotehttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/stellar/go-stellar-sdk/network"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/quote/quotehttp"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

const usdc = "stellar:USDC:GDRHDSTZ4PK6VI3WL224XBJFEB6CUXQESTQPXYIB3KGITRLL7XVE4NWV"

type bench struct {
	url   string
	auth  *stellar.Auth
	svc   *quote.Service
	stack *rpctest.Stack
	now   *time.Time
}

func setup(t *testing.T, db *store.DB) *bench {
	t.Helper()
	s := rpctest.New(t, db, rpctest.Options{})
	auth, err := stellar.New(testkit.StellarOptions(stellar.Options{NetworkPassphrase: network.TestNetworkPassphrase, SigningSeed: s.SigningSeed,
		PublicURL: "http://localhost:8000", LedgerMode: stellar.LedgerNone}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	b := &bench{auth: auth, stack: s, now: &now}
	methods := []quote.DeliveryMethod{{Name: "SEPA", Description: "SEPA"}, {Name: "SWIFT", Description: "SWIFT"}}
	b.svc = quote.New(quote.Options{DB: db, Outbox: s.Engine.Outbox(), Now: func() time.Time { return *b.now },
		Assets: []quote.Asset{
			{Asset: usdc, Decimals: 7},
			{Asset: "iso4217:USD", Decimals: 2, SellDeliveryMethods: methods, BuyDeliveryMethods: methods, CountryCodes: []string{"US"}},
			{Asset: "iso4217:EUR", Decimals: 2, BuyDeliveryMethods: methods[:1]},
		},
		Rates: quote.StaticRates{Pairs: []quote.StaticPair{
			{Sell: usdc, Buy: "iso4217:USD", Price: "1", FeeFixed: "1"},
			{Sell: "iso4217:USD", Buy: usdc, Price: "1", FeeFixed: "1"},
			{Sell: usdc, Buy: "iso4217:EUR", Price: "1.08"},
		}, Decimals: func(a string) int {
			if a == usdc {
				return 7
			}
			return 2
		}, Now: func() time.Time { return *b.now }},
	})
	mux := http.NewServeMux()
	quotehttp.Register(mux, quotehttp.New(b.svc, nil), stellarhttp.New(auth, nil).RequireWith(quotehttp.Refuse))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b.url = srv.URL
	return b
}

func (b *bench) token(t *testing.T) (string, wallet.Identity) {
	t.Helper()
	kp := keypair.MustRandom()
	tok, err := b.auth.IssueToken(kp.Address(), "")
	if err != nil {
		t.Fatal(err)
	}
	return tok, wallet.Identity{Account: kp.Address()}
}

func (b *bench) do(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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

// TestSEP38 runs the checks of the SDF anchor tests' SEP-38 group (info, prices, price,
// quote, get quote) plus ownership and the quote_created event, on both engines.
func TestSEP38(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db)

		// GET /info: every asset, delivery methods for the off-chain ones only.
		code, info := b.do(t, "GET", "/sep38/info", "", nil)
		assets, _ := info["assets"].([]any)
		if code != 200 || len(assets) != 3 {
			t.Fatalf("info: %d %v", code, info)
		}
		if a := assets[0].(map[string]any); a["asset"] != usdc || a["sell_delivery_methods"] != nil {
			t.Errorf("info stellar asset: %v", a)
		}

		// GET /prices: sell side and buy side; the decimals are the listed asset's.
		code, p := b.do(t, "GET", "/sep38/prices?sell_asset="+usdc+"&sell_amount=100", "", nil)
		buys, _ := p["buy_assets"].([]any)
		if code != 200 || len(buys) != 2 {
			t.Fatalf("prices: %d %v", code, p)
		}
		if x := buys[0].(map[string]any); x["asset"] != "iso4217:USD" || x["price"] != "1" || x["decimals"] != float64(2) {
			t.Errorf("prices buy_assets[0]: %v", x)
		}
		code, p = b.do(t, "GET", "/sep38/prices?buy_asset="+usdc+"&buy_amount=10", "", nil)
		if sells, _ := p["sell_assets"].([]any); code != 200 || len(sells) != 1 {
			t.Errorf("prices buy side: %d %v", code, p)
		}
		// Both assets with one amount (as the SDF suite asks "specifying delivery method is
		// optional"): the side with the amount, narrowed to the other asset.
		code, p = b.do(t, "GET", "/sep38/prices?sell_asset="+usdc+"&sell_amount=100&buy_asset=iso4217:USD", "", nil)
		if buys, _ := p["buy_assets"].([]any); code != 200 || len(buys) != 1 || buys[0].(map[string]any)["asset"] != "iso4217:USD" {
			t.Errorf("prices with both assets: %d %v", code, p)
		}
		for _, q := range []string{"", "?sell_asset=" + usdc, "?sell_asset=stellar:NOPE:GDRHDSTZ4PK6VI3WL224XBJFEB6CUXQESTQPXYIB3KGITRLL7XVE4NWV&sell_amount=1",
			"?sell_asset=" + usdc + "&sell_amount=-1", "?sell_asset=" + usdc + "&buy_asset=iso4217:USD",
			"?sell_asset=" + usdc + "&sell_amount=1&buy_asset=iso4217:USD&buy_amount=1"} {
			if code, _ := b.do(t, "GET", "/sep38/prices"+q, "", nil); code != 400 {
				t.Errorf("prices%s: %d, want 400", q, code)
			}
		}

		// GET /price: the price formulas hold; bad requests are 400.
		code, pr := b.do(t, "GET", "/sep38/price?context=sep31&sell_asset="+usdc+"&buy_asset=iso4217:USD&sell_amount=100&buy_delivery_method=SEPA", "", nil)
		if code != 200 || pr["sell_amount"] != "100" || pr["buy_amount"] != "99" || pr["price"] != "1" || pr["total_price"] != "1.0101010101" {
			t.Fatalf("price: %d %v", code, pr)
		}
		if fee, _ := pr["fee"].(map[string]any); fee["total"] != "1" || fee["asset"] != usdc {
			t.Errorf("price fee: %v", pr["fee"])
		}
		for _, q := range []string{
			"context=sep31&sell_asset=" + usdc + "&buy_asset=iso4217:USD",                                         // no amount
			"context=sep31&sell_asset=" + usdc + "&buy_asset=iso4217:USD&sell_amount=1&buy_amount=1",              // both
			"sell_asset=" + usdc + "&buy_asset=iso4217:USD&sell_amount=10",                                        // no context
			"context=sep24&sell_asset=" + usdc + "&buy_asset=iso4217:USD&sell_amount=10",                          // not served
			"context=sep31&sell_asset=" + usdc + "&buy_asset=iso4217:USD&sell_amount=10&buy_delivery_method=CASH", // unknown method
			"context=sep31&sell_asset=" + usdc + "&buy_asset=iso4217:USD&sell_amount=10&country_code=BR",          // country
			"context=sep31&sell_asset=iso4217:EUR&buy_asset=" + usdc + "&sell_amount=10",                          // pair not priced
		} {
			if code, body := b.do(t, "GET", "/sep38/price?"+q, "", nil); code != 400 || body["error"] == "" {
				t.Errorf("price?%s: %d %v, want 400 with error", q, code, body)
			}
		}

		// POST /quote needs a token (403), then answers 201 with a firm quote.
		req := map[string]any{"sell_asset": usdc, "buy_asset": "iso4217:USD", "sell_amount": "100", "buy_delivery_method": "SEPA", "context": "sep31"}
		if code, _ := b.do(t, "POST", "/sep38/quote", "", req); code != 403 {
			t.Errorf("quote without token: %d, want 403", code)
		}
		tok, owner := b.token(t)
		code, q := b.do(t, "POST", "/sep38/quote", tok, req)
		if code != 201 || q["id"] == "" || q["sell_amount"] != "100" || q["buy_amount"] != "99" || q["buy_delivery_method"] != "SEPA" {
			t.Fatalf("quote: %d %v", code, q)
		}
		exp, err := time.Parse(time.RFC3339, q["expires_at"].(string))
		if err != nil || !exp.After(*b.now) {
			t.Errorf("expires_at %v: %v", q["expires_at"], err)
		}
		id := q["id"].(string)
		// More than one delivery method and none named: refused.
		if code, _ := b.do(t, "POST", "/sep38/quote", tok, map[string]any{"sell_asset": usdc, "buy_asset": "iso4217:USD", "sell_amount": "100", "context": "sep31"}); code != 400 {
			t.Errorf("quote without buy_delivery_method: %d", code)
		}
		// One method only: it need not be named.
		if code, _ := b.do(t, "POST", "/sep38/quote", tok, map[string]any{"sell_asset": usdc, "buy_asset": "iso4217:EUR", "sell_amount": "108", "context": "sep6"}); code != 201 {
			t.Errorf("quote with the only method implied: %d", code)
		}
		for _, bad := range []map[string]any{
			{"sell_asset": usdc, "buy_asset": "iso4217:USD", "sell_amount": "100", "buy_delivery_method": "SEPA", "context": "sep31", "expire_after": b.now.Add(24 * time.Hour).Format(time.RFC3339)},
			{"sell_asset": usdc, "buy_asset": "iso4217:USD", "sell_amount": "100", "buy_delivery_method": "SEPA", "context": "sep31", "expire_after": "tomorrow"},
			{"sell_asset": usdc, "buy_asset": "iso4217:USD", "buy_delivery_method": "SEPA", "context": "sep31"},
		} {
			if code, _ := b.do(t, "POST", "/sep38/quote", tok, bad); code != 400 {
				t.Errorf("quote %v: %d, want 400", bad, code)
			}
		}

		// GET /quote/{id}: the owner reads it; another identity gets 404, no token 403.
		code, got := b.do(t, "GET", "/sep38/quote/"+id, tok, nil)
		if code != 200 || got["id"] != id || got["total_price"] != q["total_price"] || got["expires_at"] != q["expires_at"] {
			t.Errorf("get quote: %d %v", code, got)
		}
		other, otherID := b.token(t)
		if code, _ := b.do(t, "GET", "/sep38/quote/"+id, other, nil); code != 404 {
			t.Errorf("another owner's quote: %d, want 404", code)
		}
		if code, _ := b.do(t, "GET", "/sep38/quote/"+id, "", nil); code != 403 {
			t.Errorf("get quote without token: %d, want 403", code)
		}

		// quote_created reaches the business with Anchor Platform's GetQuoteResponse.
		var ev struct {
			Type    string `json:"type"`
			Payload struct {
				Quote quote.PlatformQuote `json:"quote"`
			} `json:"payload"`
		}
		for _, raw := range b.stack.Business.WaitEvents(t, 2, 20*time.Second) {
			_ = json.Unmarshal(raw, &ev)
			if ev.Payload.Quote.ID == id {
				break
			}
		}
		if ev.Type != quote.EventQuoteCreated || ev.Payload.Quote.ID != id || ev.Payload.Quote.Creator.Account != owner.Account {
			t.Errorf("quote_created event: %+v", ev)
		}

		// Use: only the owner, only its context, only before expiry, only once; match decides.
		ctx := context.Background()
		use := func(who wallet.Identity, qid, context string, at time.Time, match func(quote.Quote) error) error {
			return db.InTx(ctx, func(tx *store.Tx) error {
				_, err := b.svc.Use(ctx, tx, who, qid, context, "tx-"+at.String(), at, match)
				return err
			})
		}
		var ie *quote.InvalidError
		if err := use(otherID, id, "sep31", *b.now, nil); !errors.As(err, &ie) {
			t.Errorf("another owner uses the quote: %v", err)
		}
		if err := use(owner, id, "sep6", *b.now, nil); !errors.As(err, &ie) {
			t.Errorf("wrong context: %v", err)
		}
		if err := use(owner, id, "sep31", exp, nil); !errors.As(err, &ie) {
			t.Errorf("expired quote used: %v", err)
		}
		mismatch := errors.New("amount does not match")
		if err := use(owner, id, "sep31", *b.now, func(quote.Quote) error { return mismatch }); !errors.Is(err, mismatch) {
			t.Errorf("mismatch: %v", err)
		}
		if err := use(owner, id, "sep31", *b.now, func(q quote.Quote) error { return nil }); err != nil {
			t.Fatalf("use: %v", err)
		}
		if err := use(owner, id, "sep31", *b.now, nil); !errors.As(err, &ie) {
			t.Errorf("second use: %v", err)
		}
		if q, err := b.svc.Find(ctx, id); err != nil || q.TransactionID == "" {
			t.Errorf("find after use: %+v %v", q, err)
		}
	})
}
