package stellar

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// testRedemptions is the one conformance suite every Redemptions passes.
func testRedemptions(t *testing.T, r Redemptions) {
	ctx := context.Background()
	now := time.Now()
	acct, other := keypair.MustRandom().Address(), keypair.MustRandom().Address()
	red := func(hash, account string, shared bool, keep time.Duration) Redemption {
		return Redemption{Hash: hash, Account: account, Shared: shared, KeepUntil: now.Add(keep), Now: now}
	}

	if _, known, err := r.AccountShared(ctx, acct); err != nil || known {
		t.Fatalf("fresh account: known %v err %v", known, err)
	}
	if err := r.Redeem(ctx, red("h1", acct, false, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if shared, known, err := r.AccountShared(ctx, acct); err != nil || !known || shared {
		t.Fatalf("after plain redemption: shared %v known %v err %v", shared, known, err)
	}
	if err := r.Redeem(ctx, red("h1", acct, false, time.Hour)); !errors.Is(err, ErrChallengeUsed) {
		t.Fatalf("replay: %v", err)
	}
	if err := r.Redeem(ctx, red("h2", acct, true, time.Hour)); !errors.Is(err, ErrAccountForm) {
		t.Fatalf("other form: %v", err)
	}
	// The refused redemption recorded nothing: h2 is still free for the right form.
	if err := r.Redeem(ctx, red("h2", acct, false, time.Hour)); err != nil {
		t.Fatalf("h2 after a refused redemption: %v", err)
	}
	if err := r.Redeem(ctx, red("h3", other, true, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if shared, known, _ := r.AccountShared(ctx, other); !shared || !known {
		t.Fatalf("shared account: shared %v known %v", shared, known)
	}
	// A refused form does not consume a hash either.
	if err := r.Redeem(ctx, red("h4", other, false, time.Hour)); !errors.Is(err, ErrAccountForm) {
		t.Fatalf("other form: %v", err)
	}
	if err := r.Redeem(ctx, red("h4", other, true, time.Hour)); err != nil {
		t.Fatal(err)
	}

	// Concurrent redemptions of one challenge: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = r.Redeem(ctx, red("race", other, true, time.Hour)) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrChallengeUsed):
			t.Errorf("race: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent redemptions of one challenge won", wins)
	}

	// Concurrent first redemptions in both forms: one form wins, for good.
	fresh := keypair.MustRandom().Address()
	for i := range n {
		wg.Go(func() { errs[i] = r.Redeem(ctx, red(fmt.Sprintf("form%d", i), fresh, i%2 == 0, time.Hour)) })
	}
	wg.Wait()
	shared, _, _ := r.AccountShared(ctx, fresh)
	for i, err := range errs {
		if want := (i%2 == 0) == shared; want != (err == nil) || (err != nil && !errors.Is(err, ErrAccountForm)) {
			t.Errorf("form race %d (shared %v): %v", i, i%2 == 0, err)
		}
	}
}

func TestMemoryRedemptions(t *testing.T) {
	t.Parallel()
	testRedemptions(t, NewMemoryRedemptions())
}

func TestDBRedemptions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := NewDBRedemptions(db, nil)
		testRedemptions(t, r)

		// Expired hashes are forgotten by a later redemption.
		ctx := context.Background()
		old := time.Now().Add(-time.Hour)
		acct := keypair.MustRandom().Address()
		if err := r.Redeem(ctx, Redemption{Hash: "old", Account: acct, KeepUntil: old, Now: old.Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if err := r.Redeem(ctx, Redemption{Hash: "new", Account: acct, KeepUntil: time.Now().Add(time.Hour), Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sep10_challenges WHERE hash = ?`, "old").Scan(&n); err != nil || n != 0 {
			t.Fatalf("expired hash kept: %d %v", n, err)
		}
	})
}
