package transfer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// TestHistory: every status a transaction takes is recorded with the actor of the change's
// context, in the change's database transaction; a change that leaves the status alone,
// or fails, records nothing.
func TestHistory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := rpctest.New(t, db, rpctest.Options{Quiet: true})
		bg := context.Background()
		w := actor.Actor{Kind: actor.Wallet, Name: s.User.Account}
		biz := actor.Actor{Kind: actor.Business, Name: "platform API"}
		op := actor.Actor{Kind: actor.Operator, Name: "otto"}
		tr := &transfer.Transaction{Kind: transfer.KindDeposit, Status: transfer.StatusIncomplete, AssetCode: "USDC", Owner: s.User}
		if err := s.Transfers.Create(actor.With(bg, w), tr); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			ctx    context.Context
			to     transfer.Status
			fail   bool
			record bool
		}{
			{actor.With(bg, biz), transfer.StatusPendingUserTransferStart, false, true},
			{actor.With(bg, biz), transfer.StatusPendingUserTransferStart, false, false}, // message only
			{actor.With(bg, op), transfer.StatusPendingAnchor, true, false},              // refused by fn
			{actor.With(bg, op), transfer.StatusOnHold, false, true},
			{bg, transfer.StatusPendingAnchor, false, true},
		}
		for i, st := range steps {
			_, err := s.Transfers.Change(st.ctx, tr.ID, func(x *transfer.Transaction) error {
				if st.fail {
					return errors.New("no")
				}
				x.Status, x.Message = st.to, "step "+string(rune('a'+i))
				return nil
			})
			if (err != nil) != st.fail {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		got, err := s.Transfers.History(bg, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			from, to transfer.Status
			a        actor.Actor
		}{
			{"", transfer.StatusIncomplete, w},
			{transfer.StatusIncomplete, transfer.StatusPendingUserTransferStart, biz},
			{transfer.StatusPendingUserTransferStart, transfer.StatusOnHold, op},
			{transfer.StatusOnHold, transfer.StatusPendingAnchor, actor.Actor{Kind: actor.System}},
		}
		if len(got) != len(want) {
			t.Fatalf("%d changes recorded, want %d: %+v", len(got), len(want), got)
		}
		for i, c := range got {
			if c.From != want[i].from || c.To != want[i].to || c.Actor != want[i].a || c.At.IsZero() {
				t.Errorf("change %d = %+v, want %s → %s by %+v", i, c, want[i].from, want[i].to, want[i].a)
			}
			if i > 0 && c.Version <= got[i-1].Version {
				t.Errorf("change %d: version %d after %d", i, c.Version, got[i-1].Version)
			}
		}
		if h, err := s.Transfers.History(bg, "no-such-id"); err != nil || len(h) != 0 {
			t.Fatalf("history of an unknown id = %v, %v", h, err)
		}
	})
}
