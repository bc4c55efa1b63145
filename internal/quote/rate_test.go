package quote

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
)

const usdc = "stellar:USDC:GDRHDSTZ4PK6VI3WL224XBJFEB6CUXQESTQPXYIB3KGITRLL7XVE4NWV"

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a number: %q", s)
	}
	return r
}

// TestStaticRates checks SEP-38's price formulas on the static source: with the fee in the
// sell asset, sell_amount - fee = price * buy_amount (to the buy asset's decimals), and the
// anchor never gives more than the price says.
func TestStaticRates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := StaticRates{
		Pairs: []StaticPair{
			{Sell: usdc, Buy: "iso4217:USD", Price: "1", FeeFixed: "1"},
			{Sell: "iso4217:BRL", Buy: usdc, Price: "5.42", FeePercent: "1.5"},
		},
		Decimals: func(a string) int {
			if a == usdc {
				return 7
			}
			return 2
		},
		Now: func() time.Time { return now },
	}
	for _, c := range []struct {
		name                string
		req                 RateRequest
		sell, buy, fee, err string
	}{
		{name: "sell amount, fixed fee", req: RateRequest{SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "100"}, sell: "100", buy: "99", fee: "1"},
		{name: "buy amount, fixed fee", req: RateRequest{SellAsset: usdc, BuyAsset: "iso4217:USD", BuyAmount: "99"}, sell: "100", buy: "99", fee: "1"},
		{name: "buy rounded down", req: RateRequest{SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "10.12345"}, sell: "10.12345", buy: "9.12", fee: "1"},
		{name: "percent fee", req: RateRequest{SellAsset: "iso4217:BRL", BuyAsset: usdc, SellAmount: "542"}, sell: "542", buy: "98.5", fee: "8.13"},
		{name: "percent fee, buy side", req: RateRequest{SellAsset: "iso4217:BRL", BuyAsset: usdc, BuyAmount: "100"}, sell: "550.13", buy: "100", fee: "8.13"},
		{name: "fee larger than amount", req: RateRequest{SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "0.5"}, err: "sell_amount does not cover the fee"},
		{name: "no pair", req: RateRequest{SellAsset: "iso4217:USD", BuyAsset: usdc, SellAmount: "1"}, err: ErrNoRate.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Rate(context.Background(), c.req)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err %v, want %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.SellAmount != c.sell || got.BuyAmount != c.buy || got.Fee.Total != c.fee || got.Fee.Asset != c.req.SellAsset {
				t.Fatalf("got sell %s buy %s fee %+v, want %s %s %s", got.SellAmount, got.BuyAmount, got.Fee, c.sell, c.buy, c.fee)
			}
			// sell - fee >= price * buy, and short of it by less than one unit of buy.
			net := new(big.Rat).Sub(rat(t, got.SellAmount), rat(t, got.Fee.Total))
			paid := new(big.Rat).Mul(rat(t, got.Price), rat(t, got.BuyAmount))
			if net.Cmp(paid) < 0 {
				t.Errorf("the anchor gives more than the price: %s - %s < %s * %s", got.SellAmount, got.Fee.Total, got.Price, got.BuyAmount)
			}
			unit := new(big.Rat).Mul(rat(t, got.Price), big.NewRat(1, 100))
			if new(big.Rat).Sub(net, paid).Cmp(new(big.Rat).Add(unit, big.NewRat(1, 100))) > 0 {
				t.Errorf("sell_amount - fee = %s is far from price * buy_amount = %s", net.FloatString(7), paid.FloatString(7))
			}
		})
	}
	firm, err := s.Rate(context.Background(), RateRequest{Type: Firm, SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "10"})
	if err != nil || !firm.ExpiresAt.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("firm: %+v %v", firm, err)
	}
	_, err = s.Rate(context.Background(), RateRequest{Type: Firm, SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "10", ExpireAfter: now.Add(time.Hour)})
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("expire_after beyond the TTL: %v", err)
	}
}

// rateServer is a business server's GET /rate as Anchor Platform's callback API describes
// it (query parameters in, {"rate": {...}} out), checking the API key.
func rateServer(t *testing.T, status int, rate map[string]any) (*httptest.Server, *[]map[string]string) {
	var got []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rate" || r.Method != http.MethodGet || r.Header.Get("X-Api-Key") != "secret" {
			http.Error(w, `{"error":"unexpected"}`, http.StatusTeapot)
			return
		}
		q := map[string]string{}
		for k := range r.URL.Query() {
			q[k] = r.URL.Query().Get(k)
		}
		got = append(got, q)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != http.StatusOK {
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "amount too large"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"rate": rate})
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestBusinessRates(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	srv, got := rateServer(t, http.StatusOK, map[string]any{"id": "r-1", "price": "1.02", "sell_amount": "103", "buy_amount": "100",
		"expires_at": exp.Format(time.RFC3339), "fee": map[string]any{"total": "1", "asset": usdc}})
	b := BusinessRates{BaseURL: srv.URL, Signer: callback.APIKey{Secret: "secret"}}
	r, err := b.Rate(context.Background(), RateRequest{Type: Firm, SellAsset: usdc, BuyAsset: "iso4217:USD", BuyAmount: "100",
		BuyDeliveryMethod: "SEPA", ClientID: "GCLIENT", Context: ContextSEP31})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "r-1" || r.Price != "1.02" || !r.ExpiresAt.Equal(exp) || r.Fee.Total != "1" {
		t.Fatalf("rate %+v", r)
	}
	q := (*got)[0]
	want := map[string]string{"type": "firm", "sell_asset": usdc, "buy_asset": "iso4217:USD", "buy_amount": "100",
		"buy_delivery_method": "SEPA", "client_id": "GCLIENT", "context": "sep31"}
	for k, v := range want {
		if q[k] != v {
			t.Errorf("query %s = %q, want %q", k, q[k], v)
		}
	}
	if _, ok := q["sell_amount"]; ok {
		t.Error("sell_amount sent though not asked")
	}

	// A firm answer without id or expiry is the business's bug: unavailable, not a quote.
	srv2, _ := rateServer(t, http.StatusOK, map[string]any{"price": "1", "sell_amount": "1", "buy_amount": "1"})
	if _, err := (BusinessRates{BaseURL: srv2.URL, Signer: callback.APIKey{Secret: "secret"}}).Rate(context.Background(),
		RateRequest{Type: Firm, SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "1"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("firm without id: %v", err)
	}
	// 400 from the business is the client's error, with the business's message.
	srv3, _ := rateServer(t, http.StatusBadRequest, nil)
	_, err = (BusinessRates{BaseURL: srv3.URL, Signer: callback.APIKey{Secret: "secret"}}).Rate(context.Background(),
		RateRequest{Type: Indicative, SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "1"})
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Msg != "amount too large" {
		t.Errorf("400: %v", err)
	}
	// Down: unavailable.
	srv3.Close()
	if _, err := (BusinessRates{BaseURL: srv3.URL}).Rate(context.Background(), RateRequest{SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "1"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("down: %v", err)
	}
}
