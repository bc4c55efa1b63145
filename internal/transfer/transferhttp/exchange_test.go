package transferhttp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/network"

	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/transfer/transferhttp"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// exchangeBundle serves SEP-6 with both exchange directions and SEP-38 quotes (USD ↔ USDC
// at par, a fixed fee of 1); stale is a quote service whose clock is an hour behind, for
// quotes that have expired.
type exchangeBundle struct {
	*bundle
	quotes, stale *quote.Service
}

func setupExchange(t *testing.T, db *store.DB, withQuotes bool) *exchangeBundle {
	t.Helper()
	s := rpctest.New(t, db, rpctest.Options{})
	auth, err := stellar.New(testkit.StellarOptions(stellar.Options{NetworkPassphrase: network.TestNetworkPassphrase, SigningSeed: s.SigningSeed,
		PublicURL: "http://localhost:8000", LedgerMode: stellar.LedgerNone}))
	if err != nil {
		t.Fatal(err)
	}
	usdc := "stellar:USDC:" + issuer
	methods := []quote.DeliveryMethod{{Name: "SEPA"}}
	qo := quote.Options{DB: db, Outbox: s.Engine.Outbox(),
		Assets: []quote.Asset{{Asset: usdc, Decimals: 7}, {Asset: "iso4217:USD", Decimals: 2, SellDeliveryMethods: methods, BuyDeliveryMethods: methods}},
		Rates: quote.StaticRates{Pairs: []quote.StaticPair{{Sell: usdc, Buy: "iso4217:USD", Price: "1", FeeFixed: "1"},
			{Sell: "iso4217:USD", Buy: usdc, Price: "1", FeeFixed: "1"}}},
	}
	eb := &exchangeBundle{quotes: quote.New(qo)}
	hourAgo := func() time.Time { return time.Now().Add(-time.Hour) }
	stale := qo.Rates.(quote.StaticRates)
	stale.Now, qo.Now = hourAgo, hourAgo // quotes made an hour ago, expired 50 minutes ago
	qo.Rates = stale
	eb.stale = quote.New(qo)
	o := transferhttp.Options{
		Assets: []transferhttp.Asset{{
			Code: "USDC", Issuer: issuer, OffchainAsset: "iso4217:USD", DistributionAccount: issuer,
			Deposit:  transferhttp.Op{Enabled: true, Exchange: true, FundingMethods: []string{"SEPA"}},
			Withdraw: transferhttp.Op{Enabled: true, Exchange: true, FundingMethods: []string{"SEPA"}},
		}},
		Transfers: s.Transfers,
	}
	if withQuotes {
		o.Quotes = eb.quotes
	}
	mux := http.NewServeMux()
	transferhttp.Register(mux, transferhttp.New(o), stellarhttp.New(auth, nil).RequireWith(transferhttp.Refuse))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	eb.bundle = &bundle{stack: s, url: srv.URL, auth: auth}
	return eb
}

func (b *exchangeBundle) quote(t *testing.T, svc *quote.Service, owner wallet.Identity, r quote.Request) string {
	t.Helper()
	q, err := svc.Create(t.Context(), owner, r)
	if err != nil {
		t.Fatal(err)
	}
	return q.ID
}

// SEP-6 exchange with a firm quote: the transaction takes the quote (amounts, fee, expiry as
// user_action_required_by) when it is the caller's sep6 quote, unexpired, unused and for the
// same assets and amount; every other case is a 400 and creates nothing.
func TestExchangeWithQuote(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		b := setupExchange(t, db, true)
		user := b.stack.User
		tok := b.token(t, user.Account)
		usdc := "stellar:USDC:" + issuer
		buyUSDC := quote.Request{SellAsset: "iso4217:USD", BuyAsset: usdc, SellAmount: "100", SellDeliveryMethod: "SEPA", Context: quote.ContextSEP6}
		sellUSDC := quote.Request{SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "50", BuyDeliveryMethod: "SEPA", Context: quote.ContextSEP6}
		deposit := func(qid, amount string) string {
			return "/sep6/deposit-exchange?destination_asset=USDC&source_asset=iso4217:USD&amount=" + amount +
				"&funding_method=SEPA&account=" + user.Account + "&quote_id=" + qid
		}
		withdraw := func(qid, amount string) string {
			return "/sep6/withdraw-exchange?source_asset=USDC&destination_asset=iso4217:USD&amount=" + amount +
				"&funding_method=SEPA&quote_id=" + qid
		}

		dq := b.quote(t, b.quotes, user, buyUSDC)
		wq := b.quote(t, b.quotes, user, sellUSDC)
		otherQ := b.quote(t, b.quotes, wallet.Identity{Account: user.Account, Memo: "7"}, buyUSDC)
		sep31Q := b.quote(t, b.quotes, user, quote.Request{SellAsset: usdc, BuyAsset: "iso4217:USD", SellAmount: "50",
			BuyDeliveryMethod: "SEPA", Context: quote.ContextSEP31})
		staleQ := b.quote(t, b.stale, user, buyUSDC)
		for _, c := range []struct{ name, path, want string }{
			{"amount not the quote's", deposit(dq, "99"), "sell_amount"},
			{"the quote sells another asset", withdraw(dq, "100"), "the quote sells"},
			{"the quote buys another asset", "/sep6/deposit-exchange?destination_asset=USDC&source_asset=iso4217:EUR&amount=100&funding_method=SEPA&account=" + user.Account + "&quote_id=" + dq, "the quote sells"},
			{"another owner's quote", deposit(otherQ, "100"), "not found"},
			{"a sep31 quote", withdraw(sep31Q, "50"), "sep31"},
			{"an expired quote", deposit(staleQ, "100"), "expired"},
			{"an unknown quote", deposit("01900000-0000-7000-8000-000000000000", "100"), "not found"},
			{"quote_id on a plain deposit", "/sep6/deposit?asset_code=USDC&amount=100&funding_method=SEPA&account=" + user.Account + "&quote_id=" + dq, "deposit-exchange"},
		} {
			status, body, _ := b.get(t, tok, c.path)
			if msg, _ := body["error"].(string); status != 400 || !strings.Contains(msg, c.want) {
				t.Errorf("%s: %d %v, want 400 mentioning %q", c.name, status, body, c.want)
			}
		}

		for _, c := range []struct {
			path, in, inAsset, out, outAsset string
		}{
			{deposit(dq, "100"), "100", "iso4217:USD", "99", usdc},
			{withdraw(wq, "50"), "50", usdc, "49", "iso4217:USD"},
		} {
			status, created, _ := b.get(t, tok, c.path)
			id, _ := created["id"].(string)
			if status != 200 || id == "" {
				t.Fatalf("%s: %d %v", c.path, status, created)
			}
			status, got, _ := b.get(t, tok, "/sep6/transaction?id="+id)
			tx, _ := got["transaction"].(map[string]any)
			fee, _ := tx["fee_details"].(map[string]any)
			if status != 200 || tx["amount_in"] != c.in || tx["amount_in_asset"] != c.inAsset || tx["amount_out"] != c.out ||
				tx["amount_out_asset"] != c.outAsset || fee["total"] != "1" || tx["quote_id"] == nil || tx["user_action_required_by"] == nil {
				t.Errorf("transaction with a quote: %d %v", status, got)
			}
		}
		// Each quote once.
		if status, body, _ := b.get(t, tok, deposit(dq, "100")); status != 400 || !strings.Contains(body["error"].(string), "already used") {
			t.Errorf("second use: %d %v", status, body)
		}

		// Without SEP-38 a quote_id is refused; without quote_id the exchange is indicative.
		nq := setupExchange(t, db, false)
		ntok := nq.token(t, nq.stack.User.Account)
		if status, body, _ := nq.get(t, ntok, withdraw(wq, "50")); status != 400 || !strings.Contains(body["error"].(string), "not supported") {
			t.Errorf("quote_id without quotes: %d %v", status, body)
		}
		if status, body, _ := nq.get(t, ntok, withdraw("", "50")); status != 200 {
			t.Errorf("withdraw-exchange without a quote: %d %v", status, body)
		}
	})
}
