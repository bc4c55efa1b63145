package transfer_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// TestPendingPerIdentity (issue 11, defect 2): one identity's unfinished transactions are
// bounded, counted from the rows under a per-identity lock, so that concurrent creations on
// either engine never pass the bound; a finished transaction frees its place, and another
// memo of the same account is another identity.
func TestPendingPerIdentity(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{Quiet: true,
			PendingPerIdentity: limit.Quota{Name: "limits.pending_transactions_per_identity", Max: 3}})
		create := func(o wallet.Identity) (transfer.Transaction, error) {
			tx := transfer.Transaction{Kind: transfer.KindDeposit, Status: transfer.StatusIncomplete, Owner: o,
				AssetCode: "USDC", Account: o.Account, FundingMethod: "SEPA"}
			err := s.Transfers.Create(ctx, &tx)
			return tx, err
		}
		var wg sync.WaitGroup
		var created, refused atomic.Int32
		var mu sync.Mutex
		var ids []string
		for range 10 {
			wg.Go(func() {
				tx, err := create(s.User)
				var qe *limit.QuotaError
				switch {
				case err == nil:
					created.Add(1)
					mu.Lock()
					ids = append(ids, tx.ID)
					mu.Unlock()
				case errors.As(err, &qe) && qe.Quota == "limits.pending_transactions_per_identity":
					refused.Add(1)
				default:
					t.Errorf("create: %v", err)
				}
			})
		}
		wg.Wait()
		if created.Load() != 3 || refused.Load() != 7 {
			t.Fatalf("%d created, %d refused; want 3 and 7", created.Load(), refused.Load())
		}
		if _, err := create(wallet.Identity{Account: s.User.Account, Memo: "7"}); err != nil {
			t.Fatalf("another memo: %v", err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE transfer_transactions SET status = 'completed' WHERE id = ?`, ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := create(s.User); err != nil {
			t.Fatalf("after one finished: %v", err)
		}
		if _, err := create(s.User); err == nil {
			t.Fatal("the bound was passed after one finished")
		}
	})
}
