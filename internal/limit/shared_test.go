package limit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// sharedPair is two instances' shared limiters of rate r on one database, on one clock.
func sharedPair(db *store.DB, r Rate) (a, b *Shared, clock *fakeClock) {
	clock = &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a, b = NewShared(db, "identity", r, nil), NewShared(db, "identity", r, nil)
	a.now, b.now = clock.now, clock.now
	a.Budget, b.Budget = 30*time.Second, 30*time.Second // a loaded test machine is not a slow database
	return a, b, clock
}

// Two instances take from one bucket per key, on both engines: the burst is shared, a
// refusal says how long until the next token, the bucket refills with time, keys and scopes
// are apart.
func TestSharedBucket(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b, clock := sharedPair(db, Rate{PerMinute: 60, Burst: 3}) // a token a second
		for i, s := range []*Shared{a, b, a} {
			if ok, _ := s.Take(ctx, "G1:7"); !ok {
				t.Fatalf("take %d of the shared burst refused", i+1)
			}
		}
		for _, s := range []*Shared{a, b} {
			ok, wait := s.Take(ctx, "G1:7")
			if ok || wait <= 0 || wait > time.Second {
				t.Fatalf("take past the burst: ok=%v wait=%s, want refused with wait in (0, 1s]", ok, wait)
			}
		}
		if ok, _ := b.Take(ctx, "G2"); !ok {
			t.Fatal("another key shares the bucket")
		}
		other := NewShared(db, "address", Rate{PerMinute: 60, Burst: 1}, nil)
		other.now = clock.now
		if ok, _ := other.Take(ctx, "G1:7"); !ok {
			t.Fatal("another scope shares the bucket")
		}
		clock.advance(1500 * time.Millisecond)
		if ok, _ := b.Take(ctx, "G1:7"); !ok {
			t.Fatal("refilled token refused")
		}
		ok, wait := a.Take(ctx, "G1:7")
		if ok || wait < 400*time.Millisecond || wait > 600*time.Millisecond {
			t.Fatalf("after the refilled token: ok=%v wait=%s, want refused, wait about 0.5s", ok, wait)
		}

		// Purge drops full buckets only.
		clock.advance(time.Hour)
		if ok, _ := a.Take(ctx, "G3"); !ok {
			t.Fatal("new key refused")
		}
		if _, err := a.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM rate_buckets WHERE scope = 'identity'").Scan(&n); err != nil || n != 1 {
			t.Fatalf("after purge: %d identity buckets (%v), want 1 (G3)", n, err)
		}
	})
}

// Concurrent takes from two instances never spend one token twice.
func TestSharedBucketConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, b, _ := sharedPair(db, Rate{PerMinute: 1, Burst: 10})
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				if ok, _ := s.Take(context.Background(), "GX"); ok {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != 10 {
			t.Fatalf("%d of 40 concurrent takes allowed, want the burst of 10", n)
		}
	})
}

// A database that does not answer leaves the limit to the instance's own bucket.
func TestSharedFallsBackToTheProcess(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	s := NewShared(db, "identity", Rate{PerMinute: 60, Burst: 2}, nil)
	db.Close()
	for i := range 2 {
		if ok, _ := s.Take(context.Background(), "G1"); !ok {
			t.Fatalf("take %d refused with the database closed", i+1)
		}
	}
	if ok, _ := s.Take(context.Background(), "G1"); ok {
		t.Fatal("the fallback bucket does not limit")
	}
	var nilShared *Shared
	if ok, _ := nilShared.Take(context.Background(), "G1"); !ok || !off(nilShared) {
		t.Fatal("a nil shared limiter limits")
	}
}
