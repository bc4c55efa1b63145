package transfer_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// A transaction that took a firm quote expires with it when its funds never arrived (SEP-6
// and SEP-31: "the transaction should expire when the quote expires"), through
// notify_transaction_expired; one whose funds arrived, or without a quote, is left alone; a
// second sweep finds nothing more. On both engines.
func TestExpireQuoted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{Quiet: true})
		const issuer = "GDRHDSTZ4PK6VI3WL224XBJFEB6CUXQESTQPXYIB3KGITRLL7XVE4NWV"
		usdc := "stellar:USDC:" + issuer
		qs := quote.New(quote.Options{DB: db, Outbox: s.Engine.Outbox(),
			Assets: []quote.Asset{{Asset: usdc, Decimals: 7}, {Asset: "iso4217:USD", Decimals: 2}},
			Rates: quote.StaticRates{Pairs: []quote.StaticPair{{Sell: usdc, Buy: "iso4217:USD", Price: "1"},
				{Sell: "iso4217:USD", Buy: usdc, Price: "1"}}},
		})
		// create stores a transaction that takes a fresh firm quote (10 minutes).
		create := func(kind transfer.Kind, status transfer.Status, ctxName string, sell, buy string) transfer.Transaction {
			t.Helper()
			q, err := qs.Create(ctx, s.User, quote.Request{SellAsset: sell, BuyAsset: buy, SellAmount: "100", Context: ctxName})
			if err != nil {
				t.Fatal(err)
			}
			tx := transfer.Transaction{Kind: kind, Status: status, Owner: s.User, AssetCode: "USDC", AssetIssuer: issuer,
				Account: s.User.Account, WithdrawAnchorAccount: issuer}
			err = s.Transfers.CreateWith(ctx, &tx, func(ctx context.Context, dtx *store.Tx, t *transfer.Transaction) error {
				got, err := qs.Use(ctx, dtx, s.User, q.ID, ctxName, t.ID, t.StartedAt, func(q quote.Quote) error {
					return transfer.MatchQuote(q, sell, "100", buy)
				})
				if err == nil {
					t.TakeQuote(got)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return tx
		}
		deposit := create(transfer.KindDepositExchange, transfer.StatusPendingUserTransferStart, quote.ContextSEP6, "iso4217:USD", usdc)
		receive := create(transfer.KindReceive, transfer.StatusPendingSender, quote.ContextSEP31, usdc, "iso4217:USD")
		paid := create(transfer.KindReceive, transfer.StatusPendingSender, quote.ContextSEP31, usdc, "iso4217:USD")
		if _, err := s.Transfers.Apply(ctx, "notify_onchain_funds_received", transfer.Params{TransactionID: paid.ID,
			StellarTransactionID: "5f3e5c7b9a1d3f5e7c9b1a3d5f7e9c1b3a5d7f9e1c3b5a7d9f1e3c5b7a9d1f3e"}); err != nil {
			t.Fatal(err)
		}
		plain := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusPendingUserTransferStart)

		if n, err := s.Transfers.ExpireQuoted(ctx, time.Now()); err != nil || n != 0 {
			t.Fatalf("before the quotes expire: %d %v", n, err)
		}
		later := time.Now().Add(11 * time.Minute)
		if n, err := s.Transfers.ExpireQuoted(ctx, later); err != nil || n != 2 {
			t.Fatalf("after the quotes expired: %d %v, want 2", n, err)
		}
		for _, c := range []struct {
			tx   transfer.Transaction
			want transfer.Status
		}{{deposit, transfer.StatusExpired}, {receive, transfer.StatusExpired}, {paid, transfer.StatusPendingReceiver},
			{plain, transfer.StatusPendingUserTransferStart}} {
			got, err := s.Transfers.Get(ctx, c.tx.ID)
			if err != nil || got.Status != c.want {
				t.Errorf("%s %s: %s %v, want %s", c.tx.Kind, c.tx.ID, got.Status, err, c.want)
			}
			if c.want == transfer.StatusExpired && got.Message != transfer.ExpiredQuoteMessage {
				t.Errorf("%s expired with message %q", c.tx.ID, got.Message)
			}
		}
		if n, err := s.Transfers.ExpireQuoted(ctx, later); err != nil || n != 0 {
			t.Fatalf("a second sweep: %d %v", n, err)
		}
	})
}
