package callback

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Delivery statuses. Only pending and queued deliveries wait to be sent; paused is how an
// operator sees those of a disabled endpoint (the row keeps its status).
const (
	StatusPending   = "pending"   // the head of its subject: due at its next attempt, or in flight
	StatusQueued    = "queued"    // behind an earlier delivery of the same subject and endpoint
	StatusPaused    = "paused"    // pending or queued, to a disabled endpoint (display only)
	StatusDelivered = "delivered" // a 2xx was received
	StatusFailed    = "failed"    // dead letter: permanent failure or schedule exhausted
)

// Endpoint kinds.
const (
	KindWallet   = "wallet"
	KindBusiness = "business"
	// KindDestination is a webhook destination the operator configured (Options.Destinations).
	KindDestination = "destination"
)

// BusinessEndpointID is the id of the configured business event endpoint.
const BusinessEndpointID = "business"

// Option adjusts an Engine; tests use them to inject time and randomness.
type Option func(*Engine)

// WithClock replaces time.Now for every scheduling decision (due times, leases, circuits).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithRand replaces the jitter source (a number in [0,1)).
func WithRand(r func() float64) Option { return func(e *Engine) { e.policy.Rand = r } }

// WithInstance names this instance in leases and the attempt log (default host-pid-random).
func WithInstance(id string) Option { return func(e *Engine) { e.instance = id } }

// WithPool gives the engine its own connections to the same database for claiming,
// recording and sweeping, so that a burst of business transactions (which record deliveries
// through their own transactions) cannot starve delivery of connections, nor delivery the
// business. pool must reach the same database as the engine's db; the caller closes it.
func WithPool(pool *store.DB) Option { return func(e *Engine) { e.pool = pool } }

// WithConfiguredURLs names the wallet callback URLs the operator configured
// (clients[].callback_urls): they are dialled under the internal SSRF scope
// (callback.allow_cidrs), like the business endpoint; every other wallet URL under the
// wallet scope (Scopes).
func WithConfiguredURLs(urls ...string) Option {
	return func(e *Engine) {
		for _, raw := range urls {
			if u, err := url.Parse(raw); err == nil && raw != "" {
				e.scopes.Configured = append(e.scopes.Configured, u.String())
			}
		}
	}
}

// WithMaxInFlightPerEndpoint caps concurrent attempts to one endpoint (default Workers/4,
// at least 1), so one slow endpoint cannot take every worker.
func WithMaxInFlightPerEndpoint(n int) Option { return func(e *Engine) { e.perEndpoint = n } }

// Engine delivers what the outbox recorded: it claims due deliveries, sends them signed,
// records every attempt and schedules retries. Several engines (instances) may share one
// PostgreSQL database.
type Engine struct {
	// Admin is the operators' side (listing, replay, endpoints, retention); the engine's
	// replays wake it at once.
	*Admin

	db       *store.DB
	q        *queue
	cfg      Options
	log      *slog.Logger
	now      func() time.Time
	policy   Policy
	client   *http.Client // wallet scope
	internal *http.Client // internal scope: the business endpoint, destinations, configured clients
	scopes   Scopes
	wallet   Signer
	business *businessEndpoint
	// destinations are the configured webhook destinations' signers, by id.
	destinations map[string]*StandardWebhooks
	instance     string
	perEndpoint  int
	pool         *store.DB
	metrics      *metrics
	outbox       *Outbox
	wake         chan struct{}
	done         chan struct{} // a delivery finished: its subject's next may be due

	mu        sync.Mutex
	endpoints map[string]endpointInfo // committed endpoints: id -> kind, URL
	inflight  map[string]int          // endpoint id -> attempts in flight here
	running   int
	claiming  int     // slots reserved by claim rounds in flight (see reserve)
	run       *runner // while Run runs: what adopted deliveries are started with

	// behind says the last claim round may have left due deliveries unclaimed (no worker
	// free, it found some, endpoints at their in-flight cap, releases): then a worker that
	// finishes wakes a claim round for its slot. Otherwise a finished worker wakes none:
	// what it may have made due is woken by whoever made it (enqueue, the recorder for an
	// untaken promotion or a retry, replays), and an empty claim round is a wasted scan.
	behind atomic.Bool
}

// runner is what a running Run lends to the deliveries started outside its claim loops (the
// heads a recording transaction leased here, see adopt): the context that stops it, the wait
// group its shutdown waits on, and the recorders' channel.
type runner struct {
	ctx         context.Context
	wg          *sync.WaitGroup
	completions chan<- completion
}

// endpointInfo is what the engine knows of a committed endpoint; build it with
// newEndpointInfo (a literal leaves target empty, and every send to it fails).
type endpointInfo struct {
	kind string
	url  *url.URL
	// target is url.String(), formatted once: each send passed it to http.NewRequest and
	// the scope check, 1 % of the process's CPU in bench delivery --via-http (issue 16).
	target string
}

func newEndpointInfo(kind string, u *url.URL) endpointInfo {
	return endpointInfo{kind: kind, url: u, target: u.String()}
}

type businessEndpoint struct {
	url    string
	format string
	signer Signer
	// webhooks says whether signer includes Standard Webhooks (whose webhook-id cannot
	// hold a '.').
	webhooks bool
}

// New builds an engine from complete Options (see Options). New writes the endpoint rows of
// the business endpoint, when one is configured, and of the destinations; it starts
// nothing: call Run.
func New(ctx context.Context, db *store.DB, cfg Options, opts ...Option) (*Engine, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	allow, err := ParseAllow(cfg.AllowCIDRs)
	if err != nil {
		return nil, err
	}
	walletAllow, err := ParseAllow(cfg.WalletAllowCIDRs)
	if err != nil {
		return nil, err
	}
	scopes := Scopes{Internal: Guard{Allow: allow}, Wallet: Guard{Allow: walletAllow}}
	client := func(g Guard) *http.Client {
		return NewHTTPClient(ClientOptions{Guard: g, ConnectTimeout: cfg.ConnectTimeout, Timeout: cfg.Timeout, MaxIdlePerHost: cfg.Workers})
	}
	e := &Engine{
		db:  db,
		q:   &queue{db: db, log: logger.With("component", "callback")},
		cfg: cfg,
		log: logger.With("component", "callback"),
		now: time.Now,
		policy: Policy{
			Schedule:      cfg.RetrySchedule,
			Jitter:        cfg.Jitter,
			ThrottleFloor: cfg.ThrottleFloor,
		},
		client:    client(scopes.Wallet),
		internal:  client(scopes.Internal),
		scopes:    scopes,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}, 1),
		endpoints: map[string]endpointInfo{},
		inflight:  map[string]int{},
	}
	for _, o := range opts {
		o(e)
	}
	if e.pool != nil {
		e.q.db = e.pool
	}
	if e.instance == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		e.instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if e.perEndpoint <= 0 {
		e.perEndpoint = max(1, cfg.Workers/4)
	}
	if cfg.SigningSeed != "" {
		s, err := NewStellarSigner(cfg.SigningSeed)
		if err != nil {
			return nil, err
		}
		e.wallet = s
	}
	if b := cfg.Business; b.URL != "" {
		var signers Signers
		if b.Auth.Type != AuthNone {
			signers = append(signers, b.Auth.Signer())
		}
		if len(b.WebhookSecrets) > 0 {
			sw, err := NewStandardWebhooks(b.WebhookSecrets)
			if err != nil {
				return nil, err
			}
			signers = append(signers, sw)
		}
		e.business = &businessEndpoint{url: b.URL, format: b.Format, signer: signers, webhooks: len(b.WebhookSecrets) > 0}
		if err := e.q.ensureEndpoint(ctx, BusinessEndpointID, KindBusiness, b.URL, store.Micros(e.now())); err != nil {
			return nil, err
		}
		// Its row now holds this URL: the first events need not read it back (see known).
		if u, err := url.Parse(b.URL); err == nil {
			e.endpoints[BusinessEndpointID] = newEndpointInfo(KindBusiness, u)
		}
	}
	e.destinations = make(map[string]*StandardWebhooks, len(cfg.Destinations))
	for _, d := range cfg.Destinations {
		sw, err := NewStandardWebhooks(d.WebhookSecrets)
		if err != nil {
			return nil, fmt.Errorf("callback: destination %s: %w", d.ID, err)
		}
		e.destinations[d.ID] = sw
		if err := e.q.ensureEndpoint(ctx, d.ID, KindDestination, d.URL, store.Micros(e.now())); err != nil {
			return nil, err
		}
		// As the business endpoint's: known without reading it back.
		if u, err := url.Parse(d.URL); err == nil {
			e.endpoints[d.ID] = newEndpointInfo(KindDestination, u)
		}
	}
	e.Admin = &Admin{q: e.q, now: e.now, wake: e.Wake}
	e.outbox = &Outbox{engine: e}
	e.metrics = newMetrics(e, cfg.Registerer)
	return e, nil
}

// Outbox returns the outbox domain packages record callbacks with.
func (e *Engine) Outbox() *Outbox { return e.outbox }

// Wake makes Run look for due deliveries now rather than at the next poll.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// claimed is one delivery this instance holds a lease on.
type claimed struct {
	id, endpointID, subject string
	seq                     int64
	eventID, eventType      string
	occurredAt              int64
	body                    []byte
	tries, attempts         int
	token                   string
}

// Run delivers until ctx is cancelled, then waits for attempts in flight (each bounded by the
// configured timeout) and records them before returning.
func (e *Engine) Run(ctx context.Context) error {
	completions := make(chan completion, e.cfg.Workers)
	// Up to four recording transactions overlap on PostgreSQL when attempts finish faster
	// than one records them (each waits on round trips and its commit); SQLite has one
	// writer, so one is enough there.
	recorders := 4
	if e.db.Dialect() == store.SQLite {
		recorders = 1
	}
	recorded := make(chan struct{})
	go func() { defer close(recorded); recordBatches(completions, recorders, e.recordBatch) }()
	var wg sync.WaitGroup
	e.mu.Lock()
	e.run = &runner{ctx: ctx, wg: &wg, completions: completions}
	e.mu.Unlock()
	defer func() {
		// Nothing is adopted once shutdown waits for the workers (adopt adds to wg under mu).
		e.mu.Lock()
		e.run = nil
		e.mu.Unlock()
		wg.Wait()
		close(completions)
		<-recorded
	}()
	wg.Add(1)
	go func() {
		// The sweep runs beside the claim loops so that its scan never delays claims.
		defer wg.Done()
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := e.sweep(ctx); err != nil && ctx.Err() == nil {
					e.log.Error("promote orphaned deliveries", "err", err)
				}
			}
		}
	}()
	// On PostgreSQL two claim loops overlap their round trips (SKIP LOCKED keeps them off
	// each other's rows); SQLite's single writer gains nothing from a second.
	claimers := 2
	if e.db.Dialect() == store.SQLite {
		claimers = 1
	}
	var cwg sync.WaitGroup
	for i := range claimers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			e.claimLoop(ctx, claimers, i == 0, &wg, completions)
		}()
	}
	cwg.Wait()
	return nil
}

// claimLoop claims due deliveries while workers are free and starts one goroutine per
// delivery, until ctx is cancelled. Only the polling loop also claims every PollInterval
// (for other instances' leases that lapsed, cooled circuits): an empty claim round still
// reads the due index, and the wake-ups are shared anyway.
func (e *Engine) claimLoop(ctx context.Context, claimers int, polling bool, wg *sync.WaitGroup, completions chan<- completion) {
	poll := time.NewTimer(0)
	defer poll.Stop()
	var polled <-chan time.Time
	if polling {
		polled = poll.C
	}
	share := max(1, e.cfg.Workers/claimers)
	for {
		full := false
		if n := e.reserve(share); n > 0 && ctx.Err() == nil {
			batch, left, err := e.claim(ctx, n)
			if err != nil && ctx.Err() == nil {
				e.log.Error("claim deliveries", "err", err)
			}
			e.claimed(n, len(batch))
			full = len(batch) == n
			// A round that found anything may have left more: of endpoints at their cap, or
			// rows another instance's claim held (SKIP LOCKED) that it then released or
			// promoted for. Only a round that found nothing says the queue is drained here.
			e.behind.Store(len(batch) > 0 || left || err != nil)
			wg.Add(len(batch))
			for _, c := range batch {
				go e.work(ctx, wg, completions, c)
			}
		} else {
			e.behind.Store(true)
		}
		if full {
			continue
		}
		if !poll.Stop() {
			select {
			case <-poll.C:
			default:
			}
		}
		poll.Reset(e.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-e.done:
			// A worker's slot came free while due deliveries may wait (behind); gather the
			// completions recorded together before claiming again.
			drain(e.done)
		case <-polled:
		}
	}
}

// work sends c, holding a worker slot and c's endpoint's in-flight count, then frees them;
// the caller has added c to wg. The worker keeps its slot while it takes over its subject's
// successors (same endpoint: its in-flight count does not change either).
func (e *Engine) work(ctx context.Context, wg *sync.WaitGroup, completions chan<- completion, c claimed) {
	defer wg.Done()
	for takeovers := 0; ; takeovers++ {
		next, ok := e.deliver(c, takeovers < maxTakeovers && ctx.Err() == nil, completions)
		if !ok {
			break
		}
		c = next
	}
	// A claim round is due when the last one may have left work (behind), or when this
	// endpoint was at its cap: its due deliveries were passed over or released meanwhile.
	if full := e.finished(c.endpointID); full || e.behind.Load() {
		select { // a signal, never a wait: the loop may have stopped listening
		case e.done <- struct{}{}:
		default:
		}
	}
}

// offer reserves up to n worker slots for the heads a recording transaction may lease to
// this instance and returns the offer enqueue takes (nil, and 0 slots, when Run is not
// running or no worker is free). The caller gives the slots back through adopt.
func (e *Engine) offer(n int) (*offer, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.run == nil || e.run.ctx.Err() != nil {
		return nil, 0
	}
	n = min(n, e.cfg.Workers-e.running)
	if n <= 0 {
		return nil, 0
	}
	e.running += n
	// Leases measure process liveness: wall clock, as in claim; due follows the scheduling
	// clock, as next_at does.
	until, due := store.Micros(time.Now().Add(e.cfg.Lease)), store.Micros(e.now().Add(e.cfg.Lease))
	return &offer{token: newToken(), until: until, due: due, n: n, threshold: e.cfg.CircuitThreshold}, n
}

// adopt sends the heads that a transaction leased to this instance under of, once it
// has committed (committed false: it did not, or may not have), and gives back the slots
// offer reserved for items that did not become leased heads. This is the claim round's work
// without the claim: the endpoint gate was the insert's (leaseGate), the in-flight cap is
// applied here as after a claim. A lease that cannot be used is released; one whose commit
// may have failed is released too, best effort (if the rows exist after all, the lease
// otherwise lapses and a claim takes them, as after a crash).
func (e *Engine) adopt(items []item, out []enqueued, of *offer, reserved int, committed bool) {
	if of == nil {
		return
	}
	var cs []claimed
	for i, x := range out {
		if !x.leased {
			continue
		}
		it := items[i]
		cs = append(cs, claimed{id: x.id, endpointID: it.endpointID, subject: it.m.Subject, seq: x.seq,
			eventID: it.m.EventID, eventType: it.m.Type, occurredAt: store.Micros(it.m.OccurredAt), body: x.body, token: of.token})
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	release := func(cs []claimed) {
		for _, c := range cs {
			if err := e.q.release(ctx, c, store.Micros(e.now())); err != nil {
				e.log.Warn("release a delivery leased when it was recorded (its lease will lapse)", "delivery", c.id, "err", err)
			}
		}
	}
	if !committed {
		e.unreserve(reserved)
		release(cs)
		return
	}
	keep := e.capPerEndpoint(ctx, cs)
	if len(keep) < len(cs) {
		e.behind.Store(true) // released at the cap: due for a claim when a slot frees
	}
	e.unreserve(reserved - len(keep))
	e.mu.Lock()
	r := e.run
	if r == nil || r.ctx.Err() != nil {
		e.mu.Unlock()
		release(keep)
		for _, c := range keep {
			e.finished(c.endpointID)
		}
		return
	}
	r.wg.Add(len(keep))
	e.mu.Unlock()
	for _, c := range keep {
		go e.work(r.ctx, r.wg, r.completions, c)
	}
}

// sweepEvery is how often an instance looks for subjects a crashed recorder left without
// their next head (callback_recheck); one instance at a time does it, and it reads only that
// small table.
const sweepEvery = 2 * time.Second

func (e *Engine) sweep(ctx context.Context) error {
	n, err := e.q.sweep(ctx, store.Micros(e.now()))
	if n > 0 {
		e.log.Info("promoted the next delivery of subjects left by an interrupted recording", "subjects", n)
		e.Wake()
	}
	return err
}

func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// reserve takes up to n free worker slots for a claim round; claimed ends the round, with
// the slots its batch took. A round's reservation is held apart (claiming) and an offer does
// not count it: two claim loops reserve every free slot while their statements run, and an
// offer that counted them would find none and leave its heads to the next claim. So an
// offer may use a slot a round in flight had reserved, and for as long as both deliveries
// last the instance runs a few over Workers.
func (e *Engine) reserve(n int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n = max(0, min(n, e.cfg.Workers-e.running-e.claiming))
	e.claiming += n
	return n
}

// claimed ends a claim round that reserved n slots and took batch of them.
func (e *Engine) claimed(n, batch int) {
	e.mu.Lock()
	e.claiming -= n
	e.running += batch
	e.mu.Unlock()
}

// unreserve gives back n slots an offer reserved and did not use.
func (e *Engine) unreserve(n int) {
	e.mu.Lock()
	e.running -= n
	e.mu.Unlock()
}

// finished frees a worker slot and the endpoint's in-flight count; full reports that the
// endpoint was at its cap (claims passed over its due deliveries, or released them).
func (e *Engine) finished(endpointID string) (full bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running--
	full = e.inflight[endpointID] >= e.perEndpoint
	if e.inflight[endpointID]--; e.inflight[endpointID] <= 0 {
		delete(e.inflight, endpointID)
	}
	return full
}

// saturated lists the endpoints that have reached their in-flight cap here.
func (e *Engine) saturated() []any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []any
	for id, n := range e.inflight {
		if n >= e.perEndpoint {
			out = append(out, id)
		}
	}
	return out
}

// claim leases up to n due deliveries to this instance, lets one probe through to each
// half-open endpoint and keeps each endpoint under its in-flight cap. left says due
// deliveries may remain that the round passed over: of endpoints at their cap, or released.
func (e *Engine) claim(ctx context.Context, n int) (_ []claimed, left bool, _ error) {
	now := e.now()
	// Leases measure process liveness, so they follow the wall clock even when scheduling
	// follows an injected one.
	wall := time.Now()
	saturated := e.saturated()
	out, err := e.q.claim(ctx, n, newToken(), store.Micros(wall.Add(e.cfg.Lease)), store.Micros(wall), store.Micros(now), saturated)
	if err != nil || len(out) == 0 {
		return nil, len(saturated) > 0, err
	}
	kept, err := e.probeGate(ctx, out, now)
	if err != nil {
		return nil, true, err
	}
	kept = e.capPerEndpoint(ctx, kept)
	return kept, len(saturated) > 0 || len(kept) < len(out), nil
}

// capPerEndpoint releases what would put an endpoint over its in-flight cap, and counts
// the rest as in flight.
func (e *Engine) capPerEndpoint(ctx context.Context, cs []claimed) []claimed {
	var keep, drop []claimed
	e.mu.Lock()
	for _, c := range cs {
		if e.inflight[c.endpointID] >= e.perEndpoint {
			drop = append(drop, c)
			continue
		}
		e.inflight[c.endpointID]++
		keep = append(keep, c)
	}
	e.mu.Unlock()
	for _, c := range drop {
		if err := e.q.release(ctx, c, store.Micros(e.now())); err != nil {
			e.log.Warn("release over-cap delivery (its lease will lapse)", "delivery", c.id, "err", err)
		}
	}
	return keep
}

// probeGate lets a single delivery through to an endpoint whose circuit was open and has
// just cooled down (half-open): the instance that moves circuit_until forward wins the probe,
// every other delivery claimed for that endpoint is released.
func (e *Engine) probeGate(ctx context.Context, cs []claimed, now time.Time) ([]claimed, error) {
	ids := map[string]bool{}
	for _, c := range cs {
		ids[c.endpointID] = true
	}
	halfOpen, err := e.q.halfOpen(ctx, slices.Collect(maps.Keys(ids)), e.cfg.CircuitThreshold)
	if err != nil {
		return nil, err
	}
	if len(halfOpen) == 0 {
		return cs, nil
	}
	nowUS := store.Micros(now)
	won := map[string]bool{}
	for id := range halfOpen {
		ok, err := e.q.takeProbe(ctx, id, store.Micros(now.Add(e.cfg.Lease)), nowUS)
		if err != nil {
			return nil, err
		}
		won[id] = ok
	}
	keep := cs[:0]
	for _, c := range cs {
		if halfOpen[c.endpointID] {
			if won[c.endpointID] {
				won[c.endpointID] = false // exactly one probe
				keep = append(keep, c)
				continue
			}
			if err := e.q.release(ctx, c, store.Micros(e.now())); err != nil {
				return nil, err
			}
			continue
		}
		keep = append(keep, c)
	}
	return keep, nil
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// endpoint returns an endpoint's kind and URL, from the cache or the database. The cache
// holds the endpoints this engine read back, recorded itself (known) or was configured with:
// only committed rows, whose kind and URL never change.
func (e *Engine) endpoint(ctx context.Context, id string) (endpointInfo, error) {
	e.mu.Lock()
	info, ok := e.endpoints[id]
	e.mu.Unlock()
	if ok {
		return info, nil
	}
	kind, raw, err := e.q.endpointURL(ctx, id)
	if err != nil {
		return info, fmt.Errorf("callback: endpoint %s: %w", id, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return info, fmt.Errorf("callback: endpoint %s: %w", id, err)
	}
	info = newEndpointInfo(kind, u)
	e.known(id, info)
	return info, nil
}

// known caches an endpoint whose row is committed.
func (e *Engine) known(id string, info endpointInfo) {
	e.mu.Lock()
	e.endpoints[id] = info
	e.mu.Unlock()
}

// attemptLog is what one attempt produced.
type attemptLog struct {
	started    time.Time
	duration   time.Duration
	status     int
	result     Result
	errText    string
	body       []byte
	truncated  bool
	retryAfter time.Duration
}

// deliver makes one attempt and records it. The attempt's context is not Run's: shutdown
// lets it finish (the client timeout bounds it). With take, a delivered attempt may come
// back with its subject's next delivery, already leased to this instance (ok), for the
// caller to send at once.
func (e *Engine) deliver(c claimed, take bool, completions chan<- completion) (next claimed, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout+10*time.Second)
	defer cancel()
	a := e.send(ctx, c)
	e.metrics.observe(a)
	done := make(chan recordedAttempt, 1)
	completions <- completion{c: c, a: a, take: take, done: done}
	r := <-done
	if r.err != nil {
		// The lease expires and another attempt follows: at-least-once.
		e.log.Error("record attempt", "delivery", c.id, "err", r.err)
	}
	return r.next, r.next.id != ""
}

func (e *Engine) send(ctx context.Context, c claimed) attemptLog {
	a := attemptLog{started: e.now()}
	t0 := time.Now()
	fail := func(code string, err error) attemptLog {
		a.result = Result{Outcome: Permanent, Code: code}
		a.errText = err.Error()
		a.duration = time.Since(t0)
		return a
	}
	ep, err := e.endpoint(ctx, c.endpointID)
	if err != nil {
		a.result = Result{Outcome: Retry, Code: CodeUnknown}
		a.errText = err.Error()
		a.duration = time.Since(t0)
		return a
	}
	var signer Signer
	switch ep.kind {
	case KindWallet:
		if e.wallet == nil {
			return fail(CodeUnknown, errors.New("no signing key configured for wallet callbacks"))
		}
		signer = e.wallet
	case KindBusiness:
		if e.business == nil {
			return fail(CodeUnknown, errors.New("no business endpoint configured"))
		}
		signer = e.business.signer
	case KindDestination:
		sw, ok := e.destinations[c.endpointID]
		if !ok {
			return fail(CodeUnknown, fmt.Errorf("destination %s is no longer configured (callback.destinations)", c.endpointID))
		}
		signer = sw
	default:
		return fail(CodeUnknown, fmt.Errorf("endpoint %s: unknown kind %q", c.endpointID, ep.kind))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.target, bytes.NewReader(c.body))
	if err != nil {
		return fail(CodeInvalidTarget, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vaspgate-callback/1")
	req.Header.Set("Vaspgate-Event-Id", c.eventID)
	req.Header.Set("Vaspgate-Event-Type", c.eventType)
	req.Header.Set("Vaspgate-Event-Time", store.FromMicros(c.occurredAt).Format(time.RFC3339Nano))
	req.Header.Set("Vaspgate-Subject-Sequence", strconv.FormatInt(c.seq, 10))
	if err := signer.Sign(req.Header, SignInput{URL: ep.url, EventID: c.eventID, Body: c.body, Now: time.Now()}); err != nil {
		return fail(CodeUnknown, err)
	}
	client, scope := e.client, "wallet"
	if e.scopes.internal(ep.kind, ep.target) {
		client, scope = e.internal, "internal"
	}
	resp, err := client.Do(req)
	if err != nil {
		a.result = Classify(0, err)
		a.errText = err.Error()
		a.duration = time.Since(t0)
		if a.result.Code == CodeInvalidTarget {
			e.metrics.refusedDestination(scope)
			if scope == "internal" {
				// The operator's own destination: the configuration (or its DNS) is wrong,
				// not this event. Failing it counts against the endpoint (circuit, then
				// disabled: visible state) and is retried on the schedule, so fixing
				// callback.allow_cidrs or the URL delivers everything in order (issue 11,
				// defect 4).
				a.result.Outcome = Retry
				e.log.Warn("configured callback destination refused by the SSRF guard (callback.allow_cidrs)",
					"endpoint", c.endpointID, "host", ep.url.Hostname(), "err", err)
			}
		}
		return a
	}
	a.status = resp.StatusCode
	a.body, a.truncated, _ = readCapped(resp.Body, e.cfg.MaxResponseBytes)
	resp.Body.Close()
	a.result = Classify(resp.StatusCode, nil)
	if a.result.Outcome != Delivered {
		a.errText = resp.Status
		a.retryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), e.now())
	}
	a.duration = time.Since(t0)
	return a
}
