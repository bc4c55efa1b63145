package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// KeepWarm keeps n connections of the PostgreSQL pool open (at most the pool's size): it
// opens them now, all at once, and checks them again every interval until Close. A pool
// that opens its connections on demand opens them all together when a burst arrives after a
// quiet spell, and on a busy host each open then takes hundreds of milliseconds: the first
// 32 enclave requests of a burst outlived Verify User Account's 600 ms budget (issue 13,
// docs/benchmarks.md). Idle connections are closed after the pool's idle time, so the
// interval must be shorter than it. SQLite has one connection, always open: nothing to do.
// It returns the first round's error (the pool is usable either way).
func (db *DB) KeepWarm(ctx context.Context, n int, interval time.Duration) error {
	if db.dialect != Postgres || n <= 0 {
		return nil
	}
	n = min(n, poolSize)
	err := db.warm(ctx, n)
	db.warmOnce.Do(func() {
		wctx, cancel := context.WithCancel(context.Background())
		db.stopWarm = cancel
		go func() {
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case <-t.C:
					_ = db.warm(wctx, n) // a failure shows on the requests; the next round retries
				}
			}
		}()
	})
	return err
}

// warm takes n connections at once (opening the missing ones), pings each, and puts them
// back only when all are taken — else the pool would hand one idle connection out n times
// and open nothing — so they stay in the pool idle, their idle time reset.
func (db *DB) warm(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		taken, done sync.WaitGroup
		mu          sync.Mutex
		first       error
		release     = make(chan struct{})
	)
	taken.Add(n)
	for range n {
		done.Go(func() {
			c, err := db.sql.Conn(ctx)
			if err == nil {
				err = c.PingContext(ctx)
			}
			taken.Done()
			if c != nil {
				<-release
				c.Close() // back to the pool
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("store: warm the pool: %w", err)
				}
				mu.Unlock()
			}
		})
	}
	taken.Wait()
	close(release)
	done.Wait()
	return first
}
