package travelrule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Events records a business event in the caller's transaction; *callback.Outbox implements it.
type Events interface {
	Business(ctx context.Context, tx *store.Tx, m callback.Message) error
}

// Options configure a Service. Zero values take the defaults named on each field.
type Options struct {
	// Sealer seals raw bodies, IVMS101 and spool entries. Nil stores them in clear (tests).
	Sealer Sealer
	// Events receives travel_rule.verification_updated; nil records only the local event log.
	Events Events
	// Policy derives risk_level. Default DefaultRiskPolicy().
	Policy *RiskPolicy
	// SpoolDir holds the spool file. Required.
	SpoolDir string
	// StoreBudget is how long a request waits for the database before its callback goes to
	// the spool instead (travel_rule.store_budget; the enclave allows 1 s in all). Required.
	StoreBudget time.Duration
	// MaxBatch caps the callbacks committed in one transaction. Default 256.
	MaxBatch int
	// Committers is the most group commits in flight. Default 1 on SQLite (one writer), 4 on
	// PostgreSQL. A second one starts only when the first outlives gatherLimit (see
	// dispatch).
	Committers int
	// RetentionDays is after how many days IVMS101 data is redacted
	// (travel_rule.retention_days). Required.
	RetentionDays int
	// RetentionInterval is how often the redaction runs (a maintenance task, once per
	// cluster). Default 1h.
	RetentionInterval time.Duration
	// SweepInterval is how often, and after how long, callbacks still pending are processed
	// by the sweep (a maintenance task, once per cluster: a safety net for callbacks a
	// killed process had not folded yet). Default 1m.
	SweepInterval time.Duration
	// Logger; default slog.Default(). Bodies and personal data are never logged.
	Logger *slog.Logger
	// Registerer receives the service's metrics; nil counts them unregistered.
	Registerer prometheus.Registerer
	// Originator, when set, makes vaspgate the originating VASP for deposits to other VASPs'
	// customers (see OriginatorOptions).
	Originator *OriginatorOptions
	// Beneficiary, when set, links verifications the enclave forwards to the SEP-6
	// withdrawals they pay, holds those at risk and asks the enclave about missing TX_REPORTs
	// (see BeneficiaryOptions).
	Beneficiary *BeneficiaryOptions
}

// Service receives enclave callbacks, stores them durably (database, else spool) and
// processes them into verification records in background jobs.
type Service struct {
	db      *store.DB
	jobs    *job.Engine
	opts    Options
	spool   *Spool
	log     *slog.Logger
	metrics *metrics

	queue    chan *pending
	ready    chan struct{} // closed by Run once the spool is open: Accept may store
	stop     chan struct{} // closed by Run when its context ends: committers drain and leave
	wg       sync.WaitGroup
	kick     chan struct{}
	downTill atomic.Int64 // unix nanos until which the database is considered down
	replayMu sync.Mutex

	// toFold holds the verifications whose callbacks were committed and wait for the folder
	// (see folder), since foldSince; foldKick wakes it.
	foldMu    sync.Mutex
	toFold    map[string]struct{}
	foldSince time.Time
	foldKick  chan struct{}
	// accepting counts the callbacks between Accept and their answer; burstSeen is when
	// there were last more than burstAt (unix nanos): a burst (see inBurst).
	accepting atomic.Int32
	burstSeen atomic.Int64
	// spilling counts the spills between their decision and their append: with the spool's
	// backlog it is what spillMax bounds.
	spilling atomic.Int64
	// spillSince is when the oldest record the spool holds unreplayed was spooled (unix
	// nanos; 0: none since the last replay began): the replay gives way for at most
	// foldMaxDefer after it.
	spillSince atomic.Int64
	// spillMax is the constant spillMax (tests lower it).
	spillMax int64
	// spilled holds the items of the callbacks this process spooled, for the replay (see
	// spilledItems); replayFromFile counts the records the replay read back from the file
	// instead.
	spilled        spilledItems
	replayFromFile atomic.Int64
	// gatherLimit is the constant gatherLimit (tests shorten or lengthen it).
	gatherLimit time.Duration
	// foldChunkSize, when positive, replaces refoldChunk's verifications per transaction (tests).
	foldChunkSize int
	// decoded holds the acknowledgements' decodes for the fold (see decodedCache).
	decoded decodedCache
}

type pending struct {
	it   item
	done chan pendingResult
}

type pendingResult struct {
	outcome Outcome
	err     error
}

// JobQueue is the River queue of travel-rule jobs, so they cannot starve other work.
const JobQueue = "travel_rule"

// New builds the service and registers its queue, workers and maintenance tasks (the sweep
// and the retention) on jobs; call it before jobs.Open. Run it after jobs.Open.
func New(db *store.DB, jobs *job.Engine, opts Options) (*Service, error) {
	if opts.SpoolDir == "" {
		return nil, errors.New("travelrule: spool directory is required")
	}
	if opts.Policy == nil {
		p := DefaultRiskPolicy()
		opts.Policy = &p
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, err
	}
	// The budget and the retention are the operator's (travel_rule.store_budget,
	// retention_days: config is their one home); without them the service cannot run.
	if opts.StoreBudget <= 0 {
		return nil, errors.New("travelrule: StoreBudget must be positive")
	}
	if opts.RetentionDays <= 0 {
		return nil, errors.New("travelrule: RetentionDays must be positive")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Committers <= 0 {
		opts.Committers = 1
		if db.Dialect() == store.Postgres {
			opts.Committers = 4
		}
	}
	if opts.RetentionInterval <= 0 {
		opts.RetentionInterval = time.Hour
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var s *Service
	m, err := newMetrics(opts.Registerer, func() float64 { return float64(s.spoolBacklog()) })
	if err != nil {
		return nil, err
	}
	s = &Service{
		db: db, jobs: jobs, opts: opts, metrics: m, log: opts.Logger.With("component", "travelrule"),
		queue: make(chan *pending, 4096), ready: make(chan struct{}), stop: make(chan struct{}), kick: make(chan struct{}, 1),
		toFold: map[string]struct{}{}, foldKick: make(chan struct{}, 1), gatherLimit: gatherLimit,
		spillMax: spillMax,
	}
	jobs.AddQueue(JobQueue, 2)
	// Received callbacks are processed by the folder, not River; the job remains for an
	// operator's reprocessing (rare, and then durable with the change that asks for it).
	job.AddWorker(jobs, &processWorker{s: s})
	s.registerOriginator()
	s.registerBeneficiary()
	s.registerReconcile()
	jobs.Every("travel_rule_retention", opts.RetentionInterval, func(ctx context.Context) (int, error) {
		return s.RedactExpired(ctx, time.Now())
	})
	jobs.Every("travel_rule_sweep", opts.SweepInterval, func(ctx context.Context) (int, error) {
		return s.Sweep(ctx, time.Now().Add(-opts.SweepInterval))
	})
	return s, nil
}

// Run opens the spool, starts the group committers and the folder, replays what the spool holds into the
// database (when it answers) and sweeps the callbacks a previous process left pending. When
// ctx ends it stops the committers after the queued callbacks are answered, stores what the
// spool still holds (drainSpool) and closes the spool. The job engine must be open.
func (s *Service) Run(ctx context.Context) error {
	sp, err := OpenSpool(s.opts.SpoolDir, s.opts.Sealer)
	if err != nil {
		return err
	}
	s.spool = sp
	s.wg.Add(2)
	go s.dispatch(s.commit)
	go s.folder()
	close(s.ready)
	if sp.Pending() {
		if n, err := s.replay(ctx); err != nil {
			s.log.Warn("travel rule spool not replayed at start; will retry", "replayed", n, "err", err)
		} else {
			s.log.Info("travel rule spool replayed", "records", n)
		}
	}
	s.wg.Add(2)
	go s.replayLoop(ctx)
	go s.startSweep(ctx, time.Now())
	<-ctx.Done()
	close(s.stop)
	s.wg.Wait()
	s.drainSpool()
	return s.spool.Close()
}

// drainBudget is how long a stopping service spends storing its spool: a backlog at
// spillMax takes about a second, several when read back from the file.
const drainBudget = 10 * time.Second

// drainSpool stores what the spool holds before the process stops, when the database
// answers: a spilled callback is on this instance's disk only until it is replayed, and an
// instance that stops for good (replaced, scaled in) does not come back for its disk. What
// cannot be stored stays in the spool for the next start.
func (s *Service) drainSpool() {
	if !s.spool.Pending() || time.Now().UnixNano() < s.downTill.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainBudget)
	defer cancel()
	if n, err := s.replay(ctx); err != nil {
		s.log.Warn("travel rule spool not stored before stopping; the next start replays it", "replayed", n, "err", err)
	} else if n > 0 {
		s.log.Info("travel rule spool stored before stopping", "records", n)
	}
}

// Ack is the answer to one accepted callback. Problem and Type are empty when it went to the
// spool without being decoded (a burst, the database down): the replay decodes it.
type Ack struct {
	ID      string
	Outcome Outcome
	Problem Problem
	Type    string
}

// ErrNotDurable is returned when a callback could be stored neither in the database nor in
// the spool: the request must not be acknowledged.
var ErrNotDurable = errors.New("travelrule: callback could not be stored durably")

// Accept stores one callback body durably and returns only then: in the database when it
// answers within the store budget (group-committed with concurrent callbacks), else in the
// spool; during a burst, in the spool at once (see spill). truncated marks a body cut at the
// size limit; size is the number of bytes read.
func (s *Service) Accept(ctx context.Context, body []byte, truncated bool, size int64) (Ack, error) {
	if err := s.waitReady(ctx); err != nil {
		return Ack{}, err
	}
	now := time.Now()
	if s.accepting.Add(1) > burstAt {
		s.burstSeen.Store(now.UnixNano())
	}
	defer s.accepting.Add(-1)
	rec := Record{ID: uuid.Must(uuid.NewV7()).String(), ReceivedAt: now.UTC(), Body: body, Truncated: truncated, Size: size}
	ack := Ack{ID: rec.ID}
	down := now.UnixNano() < s.downTill.Load()
	spilled := !down && s.spill()
	if spilled {
		defer s.spilling.Add(-1)
	}
	if down || spilled {
		return s.toSpool(item{rec: rec}, ack)
	}
	it, err := s.prepare(rec)
	if err != nil {
		return Ack{}, fmt.Errorf("%w: %v", ErrNotDurable, err)
	}
	d := it.dec
	ack.Problem, ack.Type = d.Problem, d.Type
	p := &pending{it: it, done: make(chan pendingResult, 1)}
	timer := time.NewTimer(s.opts.StoreBudget)
	defer timer.Stop()
	select {
	case s.queue <- p:
	case <-timer.C:
		return s.toSpool(it, ack)
	case <-s.stop:
		return s.toSpool(it, ack)
	}
	select {
	case r := <-p.done:
		if r.err != nil {
			s.log.Warn("travel rule callback not stored in database, spooling", "id", rec.ID, "type", d.Type, "err", r.err)
			return s.toSpool(it, ack)
		}
		ack.Outcome = r.outcome
		s.metrics.stored(ack)
		return ack, nil
	case <-timer.C:
		// The batch may still commit; the spool replay recognises the record by its id.
		return s.toSpool(it, ack)
	}
}

// Burst absorption. Acknowledging through the group commit costs about three times the CPU
// of the load tool and HTTP alone on two cores (issue 16, fourth pass), so under a burst the
// acknowledgements cannot reach half the in-memory ceiling that way. During a burst a
// callback is therefore acknowledged once it is in the spool (fsync'd: the "or fsync'd" of
// "acknowledged = committed or fsync'd") and not queued for the database; the replay stores
// the spool afterwards in large batches, giving way to the acknowledgements while the burst
// lasts but at most foldMaxDefer. A spilled callback's Outcome is OutcomeSpooled; it is
// durable on this instance's disk until replayed. It is decoded and sealed for the inbox by
// the replay, not in the burst (see toSpool).
//
// A burst is on from the moment more than burstAt callbacks are being acknowledged at once
// until burstHold after the last such moment. The mark alone would not do: once callbacks
// spill, each is answered within about one fsync, so at the same arrival rate far fewer are
// under way at once (at 5,000/s and 1 ms, five), the burst would seem over, the next ones
// would wait for the database and pile up again. A handful of concurrent callbacks (at most
// burstAt) never start one, so they are answered after their commit with their outcome (new,
// duplicate, revision). The folder and the replay give way during the same burst.
//
// spillMax bounds the spool's unreplayed records: at it, callbacks wait for the database
// again (backpressure), so a sustained load converges to the database's rate and the spool
// stays small. 16,384 is about a second of the replay's rate on two cores (16,000-17,000
// callbacks/s from memory in batches of replayChunk, both engines, issue 16, fifth pass; the
// folds after it take about as long again): what a burst left is stored and processed a few
// seconds after it ends, and a lost disk loses at most that. spillMaxBytes bounds the same in bytes (bodies may be up to
// travel_rule.max_body_bytes each), and spilledItems the memory the replay's shortcut holds.
const (
	burstAt       = 8
	burstHold     = 250 * time.Millisecond
	spillMax      = 16384
	spillMaxBytes = 64 << 20
)

// inBurst says whether a burst is on (see burstAt).
func (s *Service) inBurst() bool {
	return time.Now().UnixNano()-s.burstSeen.Load() < int64(burstHold)
}

// spill says whether the callback arriving goes to the spool without waiting for the
// database, and reserves its place in the backlog if so (the caller gives it back with
// spilling.Add(-1) once appended).
func (s *Service) spill() bool {
	if !s.inBurst() {
		return false
	}
	records, size := s.spool.Backlog()
	if size >= spillMaxBytes {
		return false
	}
	if n := s.spilling.Add(1); records+n > s.spillMax {
		s.spilling.Add(-1)
		return false
	}
	return true
}

// waitReady waits, within the store budget, for Run to have opened the spool: the listeners
// and Run start together.
func (s *Service) waitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	default:
	}
	timer := time.NewTimer(s.opts.StoreBudget)
	defer timer.Stop()
	select {
	case <-s.ready:
		return nil
	case <-timer.C:
		return fmt.Errorf("%w: service not running", ErrNotDurable)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotDurable, ctx.Err())
	}
}

// toSpool appends it to the spool and answers once it is fsync'd. An item the replay will
// take from memory (spilledItems) stays unprepared: the replay decodes it, after the
// burst, and counts it in the callbacks metric then, when its type is known. One that cannot
// be kept is decoded here for the metric (and read back from the file by the replay). Its
// body is sealed here once for both the spool and the inbox (see Spool).
func (s *Service) toSpool(it item, ack Ack) (Ack, error) {
	if !it.prepared {
		// Sealed once, as the inbox stores it: the spool writes this, and the replay stores
		// it as is (from the item kept, or read back from the file).
		var err error
		if it.sealed, err = s.seal(it.rec.Body, bodyAD(it.rec.ID)); err != nil {
			return ack, fmt.Errorf("%w: %v", ErrNotDurable, err)
		}
	}
	kept := s.spilled.put(it)
	// A kept spilled item is decoded, and counted in the callbacks metric, by the replay.
	decoded := it.prepared || !kept
	if !it.prepared && !kept {
		it.dec = decodeRecord(it.rec)
	}
	if decoded {
		ack.Problem, ack.Type = it.dec.Problem, it.dec.Type
	}
	s.spillSince.CompareAndSwap(0, time.Now().UnixNano())
	if err := s.spool.Append(it.rec, it.sealed); err != nil {
		if kept {
			s.spilled.drop([]string{it.rec.ID})
		}
		s.log.Error("travel rule callback could not be spooled", "id", it.rec.ID, "err", err)
		return ack, fmt.Errorf("%w: %v", ErrNotDurable, err)
	}
	ack.Outcome = OutcomeSpooled
	if decoded {
		s.metrics.stored(ack)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return ack, nil
}

// gatherLimit is how long callbacks gather behind a group commit in flight before a second
// one starts with them (when Committers allows it).
const gatherLimit = 10 * time.Millisecond

// dispatch is the group commit: it gathers the callbacks waiting and stores them in one
// transaction (up to MaxBatch), so that the commit (fsync) and the statements are shared.
// While a commit is in flight the next group gathers behind it, and starts when it ends: at
// concurrency 32 on PostgreSQL that makes groups of about 16 callbacks, against about 4 (half
// of them single callbacks) when four committers each took whatever was waiting, for half
// the database CPU per callback (issue 16, third pass). Only a commit that outlives
// gatherLimit lets another start beside it (startCommit), so one slow commit (a lock wait, a
// slow fsync) does not hold every acknowledgement.
func (s *Service) dispatch(commit func([]*pending)) {
	defer s.wg.Done()
	var (
		batch    []*pending
		inflight int
		waited   bool
		gather   = time.NewTimer(s.gatherLimit)
		done     = make(chan struct{}, s.opts.Committers)
	)
	gather.Stop()
	start := func(b []*pending) {
		inflight++
		go func() {
			commit(b)
			done <- struct{}{}
		}()
	}
	for {
		select {
		case p := <-s.queue:
			if len(batch) == 0 && inflight > 0 {
				gather.Reset(s.gatherLimit)
				waited = false
			}
			batch = append(batch, p)
		case <-done:
			inflight--
		case <-gather.C:
			waited = true
		case <-s.stop:
			// Answer what is gathered and still queued, then leave.
		drain:
			for {
				select {
				case p := <-s.queue:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			for b := range slices.Chunk(batch, s.opts.MaxBatch) {
				start(b)
			}
			for ; inflight > 0; inflight-- {
				<-done
			}
			gather.Stop()
			return
		}
		if len(batch) > 0 && startCommit(inflight, s.opts.Committers, len(batch) >= s.opts.MaxBatch, waited) {
			gather.Stop()
			waited = false
			n := min(len(batch), s.opts.MaxBatch)
			start(batch[:n:n])
			batch = append([]*pending(nil), batch[n:]...)
			if len(batch) > 0 {
				gather.Reset(s.gatherLimit)
			}
		}
	}
}

// startCommit says whether the group gathered starts its commit now, with inflight commits
// running and at most most allowed: at once when none is running; beside them when there is
// room and the group is full or has gathered for gatherLimit.
func startCommit(inflight, most int, full, waited bool) bool {
	if inflight == 0 {
		return true
	}
	return inflight < most && (full || waited)
}

func (s *Service) commit(batch []*pending) {
	items := make([]item, len(batch))
	for i, p := range batch {
		items[i] = p.it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	outs, err := s.storeBatch(ctx, items)
	if err != nil && isRetryable(err) {
		outs, err = s.storeBatch(ctx, items)
	}
	if err != nil {
		s.downTill.Store(time.Now().Add(500 * time.Millisecond).UnixNano())
	} else if s.spool.Pending() {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	for i, p := range batch {
		if err != nil {
			p.done <- pendingResult{err: err}
		} else {
			p.done <- pendingResult{outcome: outs[i]}
		}
	}
}

// isRetryable recognises PostgreSQL deadlocks and serialization failures, which a second
// attempt of the same batch resolves.
func isRetryable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 40P01") || strings.Contains(msg, "SQLSTATE 40001")
}

// storeBatch stores items in one transaction and hands the verifications they touch to the
// folder once committed (see insertBatch and folder).
func (s *Service) storeBatch(ctx context.Context, items []item) ([]Outcome, error) {
	var outs []Outcome
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		outs, err = s.insertBatch(ctx, tx, items)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.decoded.put(items, outs)
	var uuids []string
	for i, o := range outs {
		if (o == OutcomeNew || o == OutcomeRevision) && items[i].dec.Problem == ProblemNone {
			uuids = append(uuids, items[i].dec.VerificationUUID)
		}
	}
	s.noteFold(uuids)
	return outs, nil
}

// foldWindow is how long the folder lets committed callbacks gather before it folds them:
// the five callbacks of a verification usually arrive within it and are folded together.
const foldWindow = 20 * time.Millisecond

// Under a burst of callbacks the folder and the spool's replay give way to the
// acknowledgements: a fold costs the process and the database about as much CPU per callback
// as acknowledging it (issue 16, third pass), and the enclave's answer has a deadline while
// processing does not. They wait, a window at a time, while a burst is on and callbacks are
// being acknowledged (yielding), but run at the latest foldMaxDefer after the oldest work they
// hold arrived, so that processing keeps up (in larger rounds) under sustained load.
const foldMaxDefer = time.Second

// yielding says whether the folder and the replay give way: a burst is on and callbacks are
// being acknowledged. Once none is, they start at once rather than burstHold later (in four
// alternating pairs, everything was processed 0.2-0.5 s sooner after bursts of 3,000-5,000).
func (s *Service) yielding() bool {
	return s.accepting.Load() > 0 && s.inBurst()
}

// foldDeferred says whether the folder (or the replay) waits another window, yielding or not
// (see yielding), with the oldest work held waited ago.
func foldDeferred(yielding bool, waited time.Duration) bool {
	return yielding && waited < foldMaxDefer
}

// noteFold hands committed verifications to the folder.
func (s *Service) noteFold(uuids []string) {
	if len(uuids) == 0 {
		return
	}
	s.foldMu.Lock()
	if len(s.toFold) == 0 {
		s.foldSince = time.Now()
	}
	for _, u := range uuids {
		s.toFold[u] = struct{}{}
	}
	s.foldMu.Unlock()
	select {
	case s.foldKick <- struct{}{}:
	default:
	}
}

// folder processes committed callbacks into their verifications, in the background and in
// batches: it waits foldWindow after a commit (longer during a burst: foldDeferred), then
// folds every verification noted meanwhile (refoldAll). Under load a round takes longer, so
// more gathers for the next one and a verification is folded once for several of its
// callbacks.
//
// It replaces a River job per group commit: that job's insert, fetch and completion, and a
// fold per group commit rather than per round, cost the acknowledgement path about half its
// throughput on PostgreSQL (issue 16). Nothing is lost by keeping the work in memory: the
// inbox rows stay pending until folded, a round that fails is retried, and a process that
// dies leaves them to the sweep (at its restart for what it had received; the cluster's
// periodic sweep after SweepInterval).
func (s *Service) folder() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()
	backoff := time.Duration(0)
	for {
		select {
		case <-s.stop:
			return
		case <-s.foldKick:
		}
		if !s.foldWait(foldWindow + backoff) {
			return
		}
		for {
			s.foldMu.Lock()
			waited := time.Since(s.foldSince)
			s.foldMu.Unlock()
			if !foldDeferred(s.yielding(), waited) {
				break
			}
			if !s.foldWait(foldWindow) {
				return
			}
		}
		s.foldMu.Lock()
		uuids := make([]string, 0, len(s.toFold))
		for u := range s.toFold {
			uuids = append(uuids, u)
		}
		clear(s.toFold)
		s.foldMu.Unlock()
		if err := s.refoldAll(ctx, uuids); err != nil {
			if ctx.Err() != nil {
				return
			}
			// Fold them again after a pause, doubling up to the sweep's interval.
			backoff = min(max(2*backoff, 100*time.Millisecond), s.opts.SweepInterval)
			s.log.Warn("travel rule callbacks not processed; will retry", "verifications", len(uuids), "retry_in", backoff, "err", err)
			s.noteFold(uuids)
			continue
		}
		backoff = 0
	}
}

// foldWait waits d, or until the service stops (false).
func (s *Service) foldWait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}

// enqueueProcess records, in tx, a processing job for uuids.
func (s *Service) enqueueProcess(ctx context.Context, tx *store.Tx, uuids []string) error {
	if len(uuids) == 0 {
		return nil
	}
	slices.Sort(uuids)
	uuids = slices.Compact(uuids)
	return s.jobs.Enqueue(ctx, tx, ProcessArgs{UUIDs: uuids}, &river.InsertOpts{Queue: JobQueue})
}

// replayLoop drains the spool whenever it holds records and the database answers: when
// kicked (a callback was spooled, or a commit succeeded while the spool is not empty) and
// every second; during a burst once it eases or foldMaxDefer after the oldest record was
// spooled (foldDeferred).
func (s *Service) replayLoop(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-tick.C:
		}
		if !s.spool.Pending() || time.Now().UnixNano() < s.downTill.Load() {
			continue
		}
		for {
			since := s.spillSince.Load()
			if since == 0 || !foldDeferred(s.yielding(), time.Since(time.Unix(0, since))) {
				break
			}
			if !s.foldWait(foldWindow) {
				return
			}
		}
		if n, err := s.replay(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("travel rule spool replay stopped; will retry", "replayed", n, "err", err)
			s.downTill.Store(time.Now().Add(500 * time.Millisecond).UnixNano())
		} else if n > 0 {
			s.log.Info("travel rule spool replayed", "records", n)
		}
	}
}

// startSweep processes the callbacks received before started and still pending: the folder
// of the previous process may have died before folding them, and the periodic sweep waits
// for a leader to be elected (a killed leader's lease time) and for them to be SweepInterval
// old. Every instance does it once at start:
// processing is idempotent and serialised per verification.
func (s *Service) startSweep(ctx context.Context, started time.Time) {
	defer s.wg.Done()
	if n, err := s.Sweep(ctx, started); err != nil && ctx.Err() == nil {
		s.log.Warn("travel rule start-up sweep failed; the periodic sweep will retry", "err", err)
	} else if n > 0 {
		s.log.Info("travel rule pending callbacks processed by the sweep", "verifications", n)
	}
}

// replayChunk is how many spooled records the replay stores per transaction: one statement
// on PostgreSQL whatever its size, so larger is cheaper per record; SQLite's one writer is
// held for the whole chunk, so it takes the group commit's size there.
func (s *Service) replayChunk() int {
	if s.db.Dialect() == store.Postgres {
		return 1024
	}
	return s.opts.MaxBatch
}

// replay stores the spool's records into the database in order: those this process spooled
// from the items it kept (spilled: decoded and sealed here once, or as prepared on arrival),
// the others read back from the file, decoded and sealed.
func (s *Service) replay(ctx context.Context) (int, error) {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	// What is spooled from now on is the next replay's, and waits for it from now.
	s.spillSince.Store(0)
	return s.spool.Replay(s.replayChunk(), s.spilled.has, func(recs []Record) error {
		items := make([]item, len(recs))
		ids := make([]string, len(recs))
		var uncounted []int // spilled and not counted in the callbacks metric yet (toSpool)
		for i, r := range recs {
			ids[i] = r.ID
			it, kept := s.spilled.get(r.ID)
			switch {
			case kept && it.prepared:
				items[i] = it
				continue
			case kept:
				// Spilled in a burst: sealed in toSpool, decoded here.
				uncounted = append(uncounted, i)
				r = it.rec
				r.sealed = it.sealed
			case r.Body == nil && r.ReceivedAt.IsZero():
				// Known when the file was read and no longer: its append failed meanwhile
				// (never acknowledged); the next replay reads the file whole.
				return fmt.Errorf("travelrule: spooled record %s no longer held", r.ID)
			default:
				s.replayFromFile.Add(1)
			}
			var err error
			if items[i], err = s.prepare(r); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		outs, err := s.storeBatch(ctx, items)
		if err != nil {
			return err
		}
		s.spilled.drop(ids)
		for _, o := range outs {
			s.metrics.replayed.WithLabelValues(string(o)).Inc()
		}
		for _, i := range uncounted {
			d := items[i].dec
			s.metrics.stored(Ack{Outcome: OutcomeSpooled, Problem: d.Problem, Type: d.Type})
			if d.Problem != ProblemNone && (outs[i] == OutcomeNew || outs[i] == OutcomeRevision) {
				s.log.Warn("travel rule callback quarantined", "id", ids[i], "type", d.Type, "problem", d.Problem)
			}
		}
		return nil
	})
}

// spoolBacklog is how many records the spool holds unreplayed (0 before Run opened it).
func (s *Service) spoolBacklog() int64 {
	select {
	case <-s.ready:
		n, _ := s.spool.Backlog()
		return n
	default:
		return 0
	}
}

// SpoolPending reports whether acknowledged callbacks wait in the spool.
func (s *Service) SpoolPending() bool {
	select {
	case <-s.ready:
		return s.spool.Pending()
	default:
		return false
	}
}
