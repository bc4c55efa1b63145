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

// TestDeferred checks that writes gathered with Tx.Deferred run once per key, in the order
// keys were first used, just before the commit, and share the transaction's fate.
func TestDeferred(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		type keyA struct{}
		type keyB struct{}
		gather := func(tx *store.Tx, key any, row string) {
			rows := tx.Deferred(key, func() any { return &[]string{} }, func(ctx context.Context, tx *store.Tx, v any) error {
				for _, r := range *v.(*[]string) {
					if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value, created_at) VALUES (?, ?, ?)", r, "deferred", 1); err != nil {
						return err
					}
				}
				return nil
			}).(*[]string)
			*rows = append(*rows, row)
		}
		count := func(prefix string) int {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM meta WHERE key LIKE ?", prefix+"%").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, tc := range []struct {
			name string
			fail error
			want int
		}{
			{"committed", nil, 3},
			{"rolled back", errors.New("boom"), 0},
		} {
			prefix := "deferred-" + tc.name + "-"
			err := db.InTx(ctx, func(tx *store.Tx) error {
				gather(tx, keyA{}, prefix+"a1")
				gather(tx, keyB{}, prefix+"b1")
				gather(tx, keyA{}, prefix+"a2")
				// Nothing is written before the function returns.
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM meta WHERE key LIKE ?", prefix+"%").Scan(&n); err != nil || n != 0 {
					t.Errorf("%s: %d rows before the end (err %v), want 0", tc.name, n, err)
				}
				return tc.fail
			})
			if !errors.Is(err, tc.fail) {
				t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.fail)
			}
			if got := count(prefix); got != tc.want {
				t.Fatalf("%s: %d rows, want %d", tc.name, got, tc.want)
			}
		}
		// A failing flush rolls the transaction back with the work.
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value, created_at) VALUES (?, ?, ?)", "deferred-fail-work", "work", 1); err != nil {
				return err
			}
			gather(tx, keyA{}, "deferred-committed-a1") // already there: the flush fails
			return nil
		})
		if err == nil || count("deferred-fail-") != 0 {
			t.Fatalf("a failing flush: err %v, work kept %d", err, count("deferred-fail-"))
		}
	})
}

// TestAfterEnd checks that the functions given to Tx.AfterEnd run once the transaction has
// ended, with committed true only after a commit, and that the transaction's writes are
// visible to others when they run after a commit.
func TestAfterEnd(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		errFail := errors.New("fail")
		for _, tc := range []struct {
			name       string
			fn         error // what InTx's function returns
			flush      error // what a deferred write returns
			panics     bool
			wantCommit bool
		}{
			{name: "committed", wantCommit: true},
			{name: "function failed", fn: errFail},
			{name: "deferred write failed", flush: errFail},
			{name: "function panicked", panics: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := "after-end-" + tc.name
				var calls []bool
				var seen bool
				run := func() error {
					return db.InTx(ctx, func(tx *store.Tx) error {
						if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value, created_at) VALUES (?, ?, ?)", key, "v", 1); err != nil {
							return err
						}
						tx.AfterEnd(func(committed bool) {
							calls = append(calls, committed)
							// Outside the transaction: what it wrote is there only if it committed.
							_, ok, err := db.Meta(ctx, key)
							if err != nil {
								t.Error(err)
							}
							seen = ok
						})
						tx.Deferred(key, func() any { return nil }, func(context.Context, *store.Tx, any) error { return tc.flush })
						if tc.panics {
							panic("boom")
						}
						return tc.fn
					})
				}
				var err error
				func() {
					defer func() {
						if p := recover(); (p != nil) != tc.panics {
							t.Errorf("panic %v, want a panic: %v", p, tc.panics)
						}
					}()
					err = run()
				}()
				if (err == nil) != (tc.wantCommit || tc.panics) {
					t.Errorf("InTx: %v", err)
				}
				if len(calls) != 1 || calls[0] != tc.wantCommit {
					t.Fatalf("AfterEnd calls %v, want one with committed=%v", calls, tc.wantCommit)
				}
				if seen != tc.wantCommit {
					t.Errorf("the row was visible outside: %v, want %v", seen, tc.wantCommit)
				}
			})
		}
	})
}
