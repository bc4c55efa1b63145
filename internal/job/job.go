// Package job runs vaspgate's durable background work on River, over the same database as
// everything else, so a job can be enqueued inside the transaction of the change that needs
// it: a rolled-back change never runs its jobs, a committed one always does, even if the
// process dies right after the commit.
//
// River is used through its database/sql drivers on both engines (riverdatabasesql for
// PostgreSQL, riversqlite for SQLite). That gives every package one transaction type,
// *sql.Tx, behind store.Tx. The cost is polling instead of LISTEN/NOTIFY on PostgreSQL,
// bounded by FetchPollInterval; work that needs lower latency (callback delivery) wakes its
// own workers in-process.
//
// Use: register workers, periodic jobs and maintenance tasks (Every), Open (creates the
// client; enough to enqueue), then Run (works until its context ends, then lets running jobs
// finish, bounded by Options.StopTimeout).
package job

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Options tune the engine; the zero value is usable.
type Options struct {
	// Workers is how many jobs of the default queue run at once (default 16).
	Workers int
	// PollInterval is how often idle workers look for new jobs (default 200 ms).
	PollInterval time.Duration
	// Logger receives River's logs (default slog.Default()).
	Logger *slog.Logger
	// StopTimeout bounds how long Run waits, once its context ends, for running jobs to
	// finish before cancelling them (they are retried); default 10 s.
	StopTimeout time.Duration
}

// Engine owns the River client.
type Engine struct {
	db       *store.DB
	opts     Options
	workers  *river.Workers
	periodic []*river.PeriodicJob
	queues   map[string]river.QueueConfig
	working  bool // a worker is registered; River refuses queues without workers
	tasks    map[string]task

	mu     sync.Mutex
	client *river.Client[*sql.Tx]
}

// New returns an engine over db. Register workers with AddWorker before Open.
func New(db *store.DB, opts Options) *Engine {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	return &Engine{
		db:      db,
		opts:    opts,
		workers: river.NewWorkers(),
		queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}},
		tasks:   map[string]task{},
	}
}

// AddWorker registers w on e. Register every worker before Open.
func AddWorker[T river.JobArgs](e *Engine, w river.Worker[T]) {
	river.AddWorker(e.workers, w)
	e.working = true
}

// AddQueue declares a queue with its own concurrency, so one kind of work cannot starve
// another.
func (e *Engine) AddQueue(name string, maxWorkers int) {
	e.queues[name] = river.QueueConfig{MaxWorkers: maxWorkers}
}

// AddPeriodic schedules a job to be enqueued periodically (by the elected leader only, so
// several instances do not multiply it).
func (e *Engine) AddPeriodic(p *river.PeriodicJob) { e.periodic = append(e.periodic, p) }

// ErrNotOpen is returned by Enqueue before Open.
var ErrNotOpen = errors.New("job: engine not open")

func (e *Engine) driver() riverdriver.Driver[*sql.Tx] {
	if e.db.Dialect() == store.SQLite {
		return riversqlite.New(e.db.SQL())
	}
	return riverdatabasesql.New(e.db.SQL())
}

// Open creates the River client with everything registered so far. It is enough for
// enqueueing; Start runs the workers.
func (e *Engine) Open() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client != nil {
		return nil
	}
	cfg := &river.Config{
		Logger:            e.opts.Logger,
		FetchPollInterval: e.opts.PollInterval,
		FetchCooldown:     e.opts.PollInterval / 4,
		PeriodicJobs:      e.periodic,
		JobTimeout:        time.Minute,
		MaxAttempts:       25,
	}
	if e.working {
		cfg.Workers = e.workers
		cfg.Queues = e.queues
	}
	client, err := river.NewClient(e.driver(), cfg)
	if err != nil {
		return fmt.Errorf("job: create client: %w", err)
	}
	e.client = client
	return nil
}

// Run works until ctx ends (Open is called if needed), then stops fetching and waits for
// running jobs to finish; after Options.StopTimeout they are cancelled (and retried) and Run
// waits for them to return.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.Open(); err != nil {
		return err
	}
	if !e.working {
		<-ctx.Done()
		return nil
	}
	// The client's own context outlives ctx: cancelling it would cancel running jobs at
	// once, where a stop lets them finish.
	if err := e.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("job: start: %w", err)
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.StopTimeout)
	defer cancel()
	err := e.client.Stop(stopCtx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		hardCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = e.client.StopAndCancel(hardCtx)
	}
	if err != nil {
		return fmt.Errorf("job: stop: %w", err)
	}
	return nil
}

// Enqueue inserts a job inside tx: it runs only if tx commits.
func (e *Engine) Enqueue(ctx context.Context, tx *store.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	e.mu.Lock()
	client := e.client
	e.mu.Unlock()
	if client == nil {
		return ErrNotOpen
	}
	if _, err := client.InsertTx(ctx, tx.SQL(), args, opts); err != nil {
		return fmt.Errorf("job: enqueue %s: %w", args.Kind(), err)
	}
	return nil
}

// EnqueueMany inserts several jobs inside tx in one round trip where the engine allows.
func (e *Engine) EnqueueMany(ctx context.Context, tx *store.Tx, params []river.InsertManyParams) error {
	e.mu.Lock()
	client := e.client
	e.mu.Unlock()
	if client == nil {
		return ErrNotOpen
	}
	if _, err := client.InsertManyTx(ctx, tx.SQL(), params); err != nil {
		return fmt.Errorf("job: enqueue %d jobs: %w", len(params), err)
	}
	return nil
}

// Client exposes the River client for what this package does not wrap (subscriptions in
// tests, job listing). Nil before Open.
func (e *Engine) Client() *river.Client[*sql.Tx] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.client
}
