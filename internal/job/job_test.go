package job_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

type countArgs struct {
	Tag string `json:"tag"`
}

func (countArgs) Kind() string { return "test_count" }

type countWorker struct {
	river.WorkerDefaults[countArgs]
	runs map[string]*atomic.Int64
	done chan string
}

func (w *countWorker) Work(ctx context.Context, j *river.Job[countArgs]) error {
	w.runs[j.Args.Tag].Add(1)
	w.done <- j.Args.Tag
	return nil
}

// TestEnqueueFollowsTransaction checks the outbox promise: a job enqueued in a rolled-back
// transaction never runs, one enqueued in a committed transaction runs exactly once.
func TestEnqueueFollowsTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &countWorker{
			runs: map[string]*atomic.Int64{"committed": {}, "rolled_back": {}},
			done: make(chan string, 10),
		}
		eng := job.New(db, job.Options{PollInterval: 20 * time.Millisecond})
		job.AddWorker(eng, w)
		if err := eng.Open(); err != nil {
			t.Fatal(err)
		}

		boom := errors.New("rollback")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := eng.Enqueue(ctx, tx, countArgs{Tag: "rolled_back"}, nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled-back tx: %v", err)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			return eng.Enqueue(ctx, tx, countArgs{Tag: "committed"}, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- eng.Run(runCtx) }()
		select {
		case tag := <-w.done:
			if tag != "committed" {
				t.Fatalf("ran %q first", tag)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("committed job did not run")
		}
		// Stopping waits for the engine to go idle; anything else queued would have run by
		// then or been left in the table, which we check directly.
		stop()
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
		if n := w.runs["committed"].Load(); n != 1 {
			t.Fatalf("committed job ran %d times, want 1", n)
		}
		if n := w.runs["rolled_back"].Load(); n != 0 {
			t.Fatalf("rolled-back job ran %d times", n)
		}
		var queued int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM river_job WHERE kind = ? AND state <> 'completed'", "test_count").Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued != 0 {
			t.Fatalf("%d jobs left unfinished", queued)
		}
	})
}

func TestEnqueueBeforeOpen(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	eng := job.New(db, job.Options{})
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return eng.Enqueue(context.Background(), tx, countArgs{}, nil)
	})
	if !errors.Is(err, job.ErrNotOpen) {
		t.Fatalf("err = %v, want ErrNotOpen", err)
	}
}
