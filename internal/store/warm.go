package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// KeepWarm opens n connections of the PostgreSQL pool now, all at once (at most the pool's
// size), and leaves them idle in the pool, which keeps idle connections without a time limit
// (Open). A pool that opens its connections on demand opens them all together when the first
// burst arrives, and on a busy host each open then takes hundreds of milliseconds: the first
// 32 enclave requests of a burst outlived Verify User Account's 600 ms budget (issue 13,
// docs/benchmarks.md). SQLite has one connection, always open: nothing to do. An error
// leaves the pool usable (it opens the missing connections on demand).
func (db *DB) KeepWarm(ctx context.Context, n int) error {
	if db.dialect != Postgres || n <= 0 {
		return nil
	}
	return db.warm(ctx, min(n, poolSize))
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
