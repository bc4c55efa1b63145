package transfer_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// TestOwnerScope: a wallet reaches only its own transactions, by every lookup; two memos of
// one account are two owners.
func TestOwnerScope(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{Quiet: true})
		mine := s.NewTransactionWith(t, transfer.KindDeposit, transfer.StatusIncomplete, func(tx *transfer.Transaction) {
			tx.StellarTransactionID, tx.ExternalTransactionID = "stx-1", "ext-1"
		})
		other := wallet.Identity{Account: s.User.Account, Memo: "42"}
		theirs := s.NewTransactionWith(t, transfer.KindWithdrawal, transfer.StatusIncomplete, func(tx *transfer.Transaction) {
			tx.Owner = other
			tx.StellarTransactionID, tx.ExternalTransactionID = "stx-2", "ext-2"
		})
		for _, l := range []transfer.Lookup{{ID: mine.ID}, {StellarTransactionID: "stx-1"}, {ExternalTransactionID: "ext-1"}} {
			if got, err := s.Transfers.Find(ctx, s.User, l); err != nil || got.ID != mine.ID {
				t.Errorf("Find(%+v) = %v, %v", l, got.ID, err)
			}
		}
		for _, l := range []transfer.Lookup{{ID: theirs.ID}, {StellarTransactionID: "stx-2"}, {ExternalTransactionID: "ext-2"}, {}} {
			if _, err := s.Transfers.Find(ctx, s.User, l); !errors.Is(err, transfer.ErrNotFound) {
				t.Errorf("Find(%+v) of another owner = %v, want ErrNotFound", l, err)
			}
		}
		list, err := s.Transfers.List(ctx, other, transfer.Filter{})
		if err != nil || len(list) != 1 || list[0].ID != theirs.ID {
			t.Fatalf("List(other) = %v, %v", list, err)
		}
	})
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{Quiet: true})
		var ids []string
		for i := range 5 {
			kind := transfer.KindDeposit
			if i%2 == 1 {
				kind = transfer.KindWithdrawal
			}
			ids = append(ids, s.NewTransaction(t, kind, transfer.StatusIncomplete).ID)
		}
		all, err := s.Transfers.List(ctx, s.User, transfer.Filter{})
		if err != nil || len(all) != 5 || all[0].ID != ids[4] || all[4].ID != ids[0] {
			t.Fatalf("newest first: %v", err)
		}
		page, _ := s.Transfers.List(ctx, s.User, transfer.Filter{PagingID: ids[3], Limit: 2})
		if len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] {
			t.Fatalf("paging: %+v", page)
		}
		// The operators' Browse, a keyset page of 2 at a time in either order, sees each once.
		for _, tc := range []struct {
			oldest bool
			want   []string
		}{{false, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}}, {true, ids}} {
			var seen []string
			f := transfer.BrowseFilter{Account: s.User.Account, Oldest: tc.oldest, Limit: 2}
			for range 4 {
				page, next, err := s.Transfers.Browse(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range page {
					seen = append(seen, x.ID)
				}
				if next == "" {
					break
				}
				f.Cursor = next
			}
			if strings.Join(seen, ",") != strings.Join(tc.want, ",") {
				t.Errorf("browse oldest=%v: %v, want %v", tc.oldest, seen, tc.want)
			}
		}
		// By status and by last change, both directions: every transaction once, in order.
		for _, sort := range []string{transfer.BrowseStatus, transfer.BrowseUpdated} {
			for _, oldest := range []bool{false, true} {
				var seen []transfer.Transaction
				f := transfer.BrowseFilter{Account: s.User.Account, Sort: sort, Oldest: oldest, Limit: 2}
				for range 4 {
					page, next, err := s.Transfers.Browse(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					seen = append(seen, page...)
					if next == "" {
						break
					}
					f.Cursor = next
				}
				key := func(x transfer.Transaction) string {
					if sort == transfer.BrowseStatus {
						return string(x.Status) + x.ID
					}
					return x.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000000") + x.ID
				}
				if len(seen) != 5 || !slices.IsSortedFunc(seen, func(a, b transfer.Transaction) int {
					if oldest {
						return strings.Compare(key(a), key(b))
					}
					return strings.Compare(key(b), key(a))
				}) {
					t.Errorf("browse by %s oldest=%v: %d rows, not in order", sort, oldest, len(seen))
				}
			}
		}
		if _, _, err := s.Transfers.Browse(ctx, transfer.BrowseFilter{Sort: transfer.BrowseStatus, Cursor: "edited"}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("edited cursor = %v, want store.ErrBadCursor", err)
		}
		w, _ := s.Transfers.List(ctx, s.User, transfer.Filter{Kinds: []transfer.Kind{transfer.KindWithdrawal}})
		if len(w) != 2 {
			t.Fatalf("kind filter: %d", len(w))
		}
		none, _ := s.Transfers.List(ctx, s.User, transfer.Filter{AssetCode: "EURC"})
		future, _ := s.Transfers.List(ctx, s.User, transfer.Filter{NoOlderThan: time.Now().Add(time.Hour)})
		if len(none) != 0 || len(future) != 0 {
			t.Fatalf("asset/no_older_than filters: %d %d", len(none), len(future))
		}
	})
}

// TestBuiltinDecisionsMoveTransactions: with the builtin back end, the customer's status
// changes (PUT completing the fields, operator decisions) move every transaction of that
// customer that waits on KYC, so none stays in pending_customer_info_update.
func TestBuiltinDecisionsMoveTransactions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{Builtin: true})
		caller := wallet.Identity{Account: s.User.Account}
		a := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusPendingCustomerInfoUpdate)
		b := s.NewTransaction(t, transfer.KindWithdrawal, transfer.StatusIncomplete)
		c := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusPendingUserTransferStart)
		d := s.NewTransactionWith(t, transfer.KindDeposit, transfer.StatusPendingCustomerInfoUpdate, func(tx *transfer.Transaction) {
			tx.Owner.Memo = "7" // another user of the same account
		})
		status := func(id string) transfer.Status {
			t.Helper()
			cur, err := s.Transfers.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return cur.Status
		}
		// Part of the fields, for the transaction: the customer needs more info.
		id, err := s.KYC.Put(ctx, caller, kyc.PutRequest{Type: "sep6", TransactionID: a.ID, Fields: map[string]string{"first_name": "Ada"}})
		if err != nil {
			t.Fatalf("PUT /customer: %v", err)
		}
		if st := status(b.ID); st != transfer.StatusPendingCustomerInfoUpdate && st != transfer.StatusIncomplete {
			t.Fatalf("b after NEEDS_INFO: %s", st)
		}
		// The rest: PROCESSING, waiting for the operator.
		if _, err := s.KYC.Put(ctx, caller, kyc.PutRequest{ID: id, Type: "sep6", Fields: map[string]string{"last_name": "Lovelace", "email_address": "ada@example.com"}}); err != nil {
			t.Fatalf("PUT /customer: %v", err)
		}
		if _, err := s.KYC.Decide(ctx, id, kyc.Decision{Type: "sep6", Status: kyc.StatusAccepted}); err != nil {
			t.Fatalf("decide: %v", err)
		}
		for _, x := range []transfer.Transaction{a, b} {
			if st := status(x.ID); st != transfer.StatusPendingAnchor {
				t.Errorf("%s (%s) after ACCEPTED: %s, want pending_anchor", x.ID, x.Kind, st)
			}
		}
		if st := status(c.ID); st != transfer.StatusPendingUserTransferStart {
			t.Errorf("a transaction not waiting on KYC moved to %s", st)
		}
		if st := status(d.ID); st != transfer.StatusPendingCustomerInfoUpdate {
			t.Errorf("another user's transaction moved to %s", st)
		}
		// The wallet heard the moves of a (pending_anchor) and b.
		got := s.Wallet.Wait("/sep6", 2, 20*time.Second)
		if len(got) < 2 {
			t.Fatalf("sep6 callbacks: %d", len(got))
		}
	})
}

func TestOwnerForKYC(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	s := rpctest.New(t, db, rpctest.Options{Quiet: true})
	txn := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusIncomplete)
	o, err := s.Transfers.Owner(context.Background(), db, txn.ID)
	if err != nil || o.Account != s.User.Account || o.Memo != "" {
		t.Fatalf("Owner = %+v, %v", o, err)
	}
	if _, err := s.Transfers.Owner(context.Background(), db, "nope"); !errors.Is(err, kyc.ErrNotFound) {
		t.Fatalf("Owner(unknown) = %v, want kyc.ErrNotFound", err)
	}
}

func TestAllow(t *testing.T) {
	t.Parallel()
	tx := &transfer.Transaction{Kind: transfer.KindDeposit, Status: transfer.StatusPendingAnchor}
	if _, err := transfer.Allow("request_onchain_funds", tx); err == nil {
		t.Error("withdrawal method allowed on a deposit")
	}
	if _, err := transfer.Allow("no_such_method", tx); err == nil {
		t.Error("unknown method allowed")
	}
	var te *transfer.TransitionError
	if _, err := transfer.Allow("notify_trust_set", tx); !errors.As(err, &te) {
		t.Errorf("want TransitionError, got %v", err)
	}
	for _, st := range []transfer.Status{"completed", "refunded", "expired", "error", "no_market", "too_small", "too_large"} {
		if !st.Terminal() {
			t.Errorf("%s not terminal", st)
		}
	}
}

// TestOwnerInsideATransaction: kyc asks for a transaction's owner while it holds its own
// database transaction; read through that transaction, it answers on SQLite's single
// connection without waiting for itself.
func TestOwnerInsideATransaction(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	s := rpctest.New(t, db, rpctest.Options{Quiet: true})
	txn := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusIncomplete)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.Transfers.Owner(ctx, tx, txn.ID)
		if err != nil || o.Account != s.User.Account {
			t.Errorf("Owner inside a transaction: %+v, %v", o, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
