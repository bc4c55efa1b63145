package job_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// TestEveryRunsOncePerCluster runs two instances on one database, each with the same hourly
// task: the elected leader enqueues it once on election, so it runs once in all, and a
// failing task does not stop the other.
func TestEveryRunsOncePerCluster(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		var runs, fails atomic.Int64
		var done []chan error
		for range 2 {
			eng := job.New(db, job.Options{PollInterval: 20 * time.Millisecond})
			eng.Every("count", time.Hour, func(context.Context) (int, error) { runs.Add(1); return 1, nil })
			eng.Every("fail", time.Hour, func(context.Context) (int, error) { fails.Add(1); return 0, errors.New("boom") })
			if err := eng.Open(); err != nil {
				t.Fatal(err)
			}
			c := make(chan error, 1)
			go func() { c <- eng.Run(ctx) }()
			done = append(done, c)
		}
		wait.For(t, "the tasks to run", func() bool { return runs.Load() > 0 && fails.Load() > 0 })
		// Both instances are up and have tried to lead: nothing more runs in the hour.
		count := func(state string) int {
			var n int
			if err := db.QueryRowContext(context.Background(),
				"SELECT COUNT(*) FROM river_job WHERE kind = 'maintenance' AND state = ?", state).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		wait.For(t, "the runs recorded", func() bool { return count("completed") == 1 && count("discarded") == 1 })
		time.Sleep(2 * time.Second) // a window in which a second leader would have enqueued again
		if n := runs.Load(); n != 1 {
			t.Fatalf("task ran %d times, want once per cluster", n)
		}
		if n := fails.Load(); n != 1 {
			t.Fatalf("failing task ran %d times, want once (no retry: the next period is the retry)", n)
		}
		cancel()
		for _, c := range done {
			if err := <-c; err != nil {
				t.Fatal(err)
			}
		}
	})
}
