package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestCommitHook checks that a commit hook's write shares the fate of the transaction it
// runs in, and that it runs in one committed transaction only.
func TestCommitHook(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		insert := func(key string) func(ctx context.Context, tx *store.Tx) error {
			return func(ctx context.Context, tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value, created_at) VALUES (?, ?, ?)", key, "hook", 1)
				return err
			}
		}
		has := func(key string) bool {
			_, ok, err := db.Meta(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		work := func(ctx context.Context, key string, fail error) error {
			return db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value, created_at) VALUES (?, ?, ?)", key, "work", 1); err != nil {
					return err
				}
				return fail
			})
		}

		// The work fails: neither the work nor the hook's row is kept, and the hook is
		// still pending for the next transaction.
		ctx, committed := store.WithCommitHook(context.Background(), insert("hook-1"))
		boom := errors.New("boom")
		if err := work(ctx, "work-1", boom); !errors.Is(err, boom) {
			t.Fatalf("work error = %v, want boom", err)
		}
		if has("work-1") || has("hook-1") || committed() {
			t.Fatal("a rolled-back transaction kept the hook's row or reported it committed")
		}
		// The work commits: both rows are there; a second transaction does not run the
		// hook again (it would fail on the duplicate key).
		if err := work(ctx, "work-2", nil); err != nil {
			t.Fatal(err)
		}
		if !has("work-2") || !has("hook-1") || !committed() {
			t.Fatal("a committed transaction lost the hook's row")
		}
		if err := work(ctx, "work-3", nil); err != nil {
			t.Fatalf("hook ran twice: %v", err)
		}

		// The hook fails: the work is rolled back with it.
		ctx, committed = store.WithCommitHook(context.Background(), func(context.Context, *store.Tx) error { return boom })
		if err := work(ctx, "work-4", nil); !errors.Is(err, boom) {
			t.Fatalf("work error = %v, want the hook's", err)
		}
		if has("work-4") || committed() {
			t.Fatal("a failing hook let the transaction commit")
		}
	})
}
