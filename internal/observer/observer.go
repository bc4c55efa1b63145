// Package observer watches the Stellar network for payments to the anchor's accounts
// (Horizon's operations stream of each watched account, with a cursor stored in the
// database) and hands each payment to the transfer service once: the observed payment,
// keyed by its operation id, the transaction's change, its wallet callback and business
// event commit together. It runs on one instance at a time (a lease row in the database),
// resumes from the stored cursor after a restart or a failover, reconnects with backoff
// and reports how far it is behind the network.
package observer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// Transfers is the transfer side of a payment; *transfer.Service satisfies it. A payment
// goes through the transfer gate as the business's notify_onchain_funds_received does:
// AdmitPayment before the database transaction opens, ReceivePaymentTx inside it,
// PaymentReceived after the commit.
type Transfers interface {
	AdmitPayment(ctx context.Context, p transfer.Payment) (transfer.PaymentAdmission, error)
	ReceivePaymentTx(ctx context.Context, tx *store.Tx, p transfer.Payment, a transfer.PaymentAdmission) (transfer.Receipt, error)
	PaymentReceived(ctx context.Context, r transfer.Receipt)
	// ReceiveHeldPaymentTx applies a payment kept for a held transaction (ApplyHeld).
	ReceiveHeldPaymentTx(ctx context.Context, tx *store.Tx, id string, p transfer.Payment, message string) (transfer.Receipt, error)
}

// Events records business events in the caller's transaction; *callback.Outbox satisfies it.
type Events interface {
	Business(ctx context.Context, tx *store.Tx, m callback.Message) error
}

// Hashes settles the Stellar transactions the business reported that were not on the
// ledger yet; *transfer.Service satisfies it.
type Hashes interface {
	CheckHashes(ctx context.Context, window time.Duration, limit int) (int, error)
}

// Options configure an Observer.
type Options struct {
	DB *store.DB
	// Horizon is the Horizon server to stream from (stellar.NewHorizon).
	Horizon *stellar.Horizon
	// Accounts are the watched G… accounts (the distribution accounts).
	Accounts  []string
	Transfers Transfers
	// Events receives the unmatched-payment events; nil records none.
	Events Events
	// Hashes, when set, is run by the leader every LagInterval: reported hashes not yet on
	// the ledger are looked up again, and flagged once HashWindow has passed (0: 10 min).
	Hashes     Hashes
	HashWindow time.Duration
	// Instance names this process in the lease; "" means host name, process id and a
	// random suffix.
	Instance string
	// LeaseTTL is how long a lease lasts unless renewed (renewed every third of it): the
	// longest a crashed leader's accounts go unwatched. 0 means 15 s.
	LeaseTTL time.Duration
	// MinBackoff and MaxBackoff bound the wait before reconnecting to Horizon (doubling,
	// with jitter, reset by progress). 0 means 250 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// LagInterval is how often the lag is measured. 0 means 5 s.
	LagInterval time.Duration
	// StartCursor is where an account without a stored cursor starts: "now" (the default:
	// its newest operation, looked up and stored at once) or a paging token ("0" is the
	// account's whole history).
	StartCursor string
	Logger      *slog.Logger
	// Registerer receives the observer's metrics; nil counts them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Committed, when set, is called after each operation's commit (tests, benchmarks).
	Committed func(Outcome)
}

// Observer is the payment observer.
type Observer struct {
	db        *store.DB
	h         *stellar.Horizon
	accounts  []string
	transfers Transfers
	events    Events
	hashes    Hashes
	hashWin   time.Duration
	holder    string
	ttl       time.Duration
	minB      time.Duration
	maxB      time.Duration
	lagEvery  time.Duration
	start     string
	log       *slog.Logger
	now       func() time.Time
	committed func(Outcome)
	metrics   *metrics

	mu     sync.Mutex
	leader bool
	state  map[string]*AccountStatus
}

// New returns an Observer; Run starts it.
func New(o Options) (*Observer, error) {
	if o.DB == nil || o.Transfers == nil || o.Horizon == nil {
		return nil, errors.New("observer: DB, Horizon and Transfers are required")
	}
	if len(o.Accounts) == 0 {
		return nil, errors.New("observer: no account to watch")
	}
	ob := &Observer{db: o.DB, h: o.Horizon, accounts: o.Accounts, transfers: o.Transfers, events: o.Events,
		hashes: o.Hashes, hashWin: o.HashWindow,
		holder: o.Instance, ttl: o.LeaseTTL, minB: o.MinBackoff, maxB: o.MaxBackoff, lagEvery: o.LagInterval,
		start: o.StartCursor, log: o.Logger, now: o.Now, committed: o.Committed, metrics: newMetrics(),
		state: map[string]*AccountStatus{}}
	if o.Registerer != nil {
		for _, c := range ob.metrics.collectors() {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("observer: register metrics: %w", err)
			}
		}
	}
	if ob.holder == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		ob.holder = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if ob.ttl <= 0 {
		ob.ttl = 15 * time.Second
	}
	if ob.minB <= 0 {
		ob.minB = 250 * time.Millisecond
	}
	if ob.maxB <= 0 {
		ob.maxB = 30 * time.Second
	}
	if ob.lagEvery <= 0 {
		ob.lagEvery = 5 * time.Second
	}
	if ob.hashWin <= 0 {
		ob.hashWin = 10 * time.Minute
	}
	if ob.start == "" {
		ob.start = "now"
	}
	if ob.log == nil {
		ob.log = slog.New(slog.DiscardHandler)
	}
	if ob.now == nil {
		ob.now = time.Now
	}
	for _, a := range o.Accounts {
		ob.state[a] = &AccountStatus{Account: a, LagLedgers: -1, LagSeconds: -1}
	}
	return ob, nil
}

// Holder is this instance's name in the lease.
func (o *Observer) Holder() string { return o.holder }

// Run watches until ctx ends: it waits for the lease, and while it holds it streams every
// account. On return (ctx ended) the lease is released, so another instance takes over at
// once.
func (o *Observer) Run(ctx context.Context) error {
	defer func() {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := release(stop, o.db, o.holder); err != nil {
			o.log.Warn("observer: release lease", "error", err)
		}
	}()
	for {
		held, err := acquire(ctx, o.db, o.holder, o.now(), o.ttl)
		if err != nil && ctx.Err() == nil {
			o.log.Warn("observer: lease", "error", err)
		}
		if held {
			o.lead(ctx)
		}
		if !wait(ctx, o.ttl/3) {
			return nil
		}
	}
}

// lead streams every account while the lease is renewed; it returns when the lease is lost
// or ctx ends.
func (o *Observer) lead(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o.setLeader(true)
	defer o.setLeader(false)
	o.log.Info("observer: leading", "holder", o.holder, "accounts", len(o.accounts))
	var wg sync.WaitGroup
	for _, a := range o.accounts {
		wg.Go(func() { o.watch(ctx, a) })
	}
	wg.Go(func() { o.measure(ctx) })
	// Renew every third of the lease; a lease that cannot be renewed before it expires is
	// given up (another instance may hold it by then).
	validUntil := o.now().Add(o.ttl)
	for wait(ctx, o.ttl/3) {
		held, err := acquire(ctx, o.db, o.holder, o.now(), o.ttl)
		switch {
		case held:
			validUntil = o.now().Add(o.ttl)
			continue
		case err != nil && o.now().Before(validUntil):
			o.log.Warn("observer: renew lease", "error", err)
			continue
		}
		o.log.Warn("observer: lease lost", "holder", o.holder, "error", err)
		break
	}
	cancel()
	wg.Wait()
}

// PageSize is how many operations the observer reads per page while it catches up, and so
// the most it commits in one database transaction.
const PageSize = 200

// watch follows one account from its stored cursor: it catches up page by page (a page per
// database transaction) and then streams, committing each operation as it comes; whenever
// the stream ends it reconnects with backoff and catches up again.
func (o *Observer) watch(ctx context.Context, account string) {
	backoff := o.minB
	for ctx.Err() == nil {
		cursor, err := o.cursor(ctx, account)
		if err == nil {
			pos, _ := strconv.ParseInt(cursor, 10, 64)
			o.update(account, func(s *AccountStatus) { s.Connected, s.Cursor = true, cursor })
			// commit records ops after pos (a replayed page is skipped: the cursor says it is
			// committed) and moves pos.
			commit := func(ops []stellar.Operation) error {
				fresh := ops[:0:0]
				for _, op := range ops {
					if p, _ := strconv.ParseInt(op.PagingToken, 10, 64); p <= pos {
						o.metrics.replayed.Inc()
						continue
					}
					fresh = append(fresh, op)
				}
				if len(fresh) == 0 {
					return nil
				}
				outs, err := o.commitPage(ctx, account, fresh)
				if err != nil {
					return err
				}
				last := fresh[len(fresh)-1]
				pos, _ = strconv.ParseInt(last.PagingToken, 10, 64)
				backoff = o.minB
				for _, out := range outs {
					o.observe(out, last.PagingToken, last.Ledger())
				}
				return nil
			}
			err = o.catchUp(ctx, account, &pos, commit)
			if err == nil {
				err = o.h.StreamOperations(ctx, account, strconv.FormatInt(pos, 10), func(op stellar.Operation) error {
					return commit([]stellar.Operation{op})
				})
			}
		}
		o.update(account, func(s *AccountStatus) {
			s.Connected = false
			if err != nil && ctx.Err() == nil {
				s.LastError = err.Error()
			}
		})
		if ctx.Err() != nil {
			return
		}
		o.metrics.reconnects.Inc()
		if !errors.Is(err, stellar.ErrStreamEnded) {
			o.log.Warn("observer: stream", "account", account, "error", err, "retry_in", backoff.String())
		}
		// Full jitter keeps instances and accounts from reconnecting in step.
		if !wait(ctx, backoff/2+time.Duration(mrand.Int64N(int64(backoff/2)+1))) {
			return
		}
		backoff = min(backoff*2, o.maxB)
	}
}

// catchUp reads the account's operations after *pos page by page and commits each page,
// until a page is not full (the stream takes over from there).
func (o *Observer) catchUp(ctx context.Context, account string, pos *int64, commit func([]stellar.Operation) error) error {
	for ctx.Err() == nil {
		ops, err := o.h.Operations(ctx, account, strconv.FormatInt(*pos, 10), PageSize, false)
		if err != nil {
			return err
		}
		if len(ops) > 0 {
			before := *pos
			if err := commit(ops); err != nil {
				return err
			}
			if *pos == before {
				return nil // a page of replays only: let the stream go on from the cursor
			}
		}
		if len(ops) < PageSize {
			return nil
		}
	}
	return ctx.Err()
}

// cursor returns the account's stored cursor, storing the starting one first if there is
// none ("now" is resolved to the account's newest operation, so that a restart before the
// first payment still resumes where watching began).
func (o *Observer) cursor(ctx context.Context, account string) (string, error) {
	var cur string
	err := o.db.QueryRowContext(ctx, "SELECT cursor FROM observer_cursors WHERE account = ?", account).Scan(&cur)
	if err == nil {
		return cur, nil
	}
	start := o.start
	if start == "now" {
		ops, err := o.h.Operations(ctx, account, "", 1, true)
		if err != nil {
			return "", err
		}
		start = "0"
		if len(ops) > 0 {
			start = ops[0].PagingToken
		}
	}
	pos, err := strconv.ParseInt(start, 10, 64)
	if err != nil {
		return "", fmt.Errorf("observer: start cursor %q is not a paging token", start)
	}
	_, err = o.db.ExecContext(ctx, `INSERT INTO observer_cursors (account, cursor, position, ledger, closed_at, updated_at)
		VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (account) DO NOTHING`, account, start, pos, pos>>32, store.Micros(o.now()))
	if err != nil {
		return "", fmt.Errorf("observer: store start cursor: %w", err)
	}
	err = o.db.QueryRowContext(ctx, "SELECT cursor FROM observer_cursors WHERE account = ?", account).Scan(&cur)
	if err != nil {
		return "", fmt.Errorf("observer: read cursor: %w", err)
	}
	return cur, nil
}

// measure updates the lag of every account every LagInterval while leading: how many
// ledgers and seconds the oldest operation not yet committed is behind Horizon's newest
// ledger (0 when none is waiting).
func (o *Observer) measure(ctx context.Context) {
	for {
		latest, err := o.h.Latest(ctx)
		for _, a := range o.accounts {
			if err != nil {
				break
			}
			o.measureAccount(ctx, a, latest)
		}
		if o.hashes != nil {
			if _, err := o.hashes.CheckHashes(ctx, o.hashWin, 100); err != nil && ctx.Err() == nil {
				o.log.Warn("observer: check reported hashes", "error", err)
			}
		}
		if !wait(ctx, o.lagEvery) {
			return
		}
	}
}

func (o *Observer) measureAccount(ctx context.Context, account string, latest stellar.LatestLedger) {
	var cur string
	if err := o.db.QueryRowContext(ctx, "SELECT cursor FROM observer_cursors WHERE account = ?", account).Scan(&cur); err != nil {
		return
	}
	next, err := o.h.Operations(ctx, account, cur, 1, false)
	if err != nil {
		return
	}
	ledgers, seconds := int64(0), 0.0
	if len(next) > 0 {
		ledgers = max(latest.Ledger-next[0].Ledger()+1, 0)
		seconds = math.Max(latest.ClosedAt.Sub(next[0].CreatedAt).Seconds(), 0)
	}
	o.update(account, func(s *AccountStatus) {
		s.LatestLedger, s.LagLedgers, s.LagSeconds, s.MeasuredAt = latest.Ledger, ledgers, seconds, o.now().UTC()
	})
	o.metrics.lagLedgers.WithLabelValues(account).Set(float64(ledgers))
	o.metrics.lagSeconds.WithLabelValues(account).Set(seconds)
}

func (o *Observer) observe(out Outcome, cursor string, ledger int64) {
	o.update(out.Account, func(s *AccountStatus) { s.Cursor, s.Ledger, s.LastError = cursor, ledger, "" })
	if out.Status != "" {
		result := out.Status
		if out.Duplicate {
			result = "duplicate"
		}
		o.metrics.payments.WithLabelValues(result).Inc()
		if !out.Duplicate {
			o.metrics.delay.Observe(out.CommittedAt.Sub(out.ClosedAt).Seconds())
		}
	}
	if o.committed != nil {
		o.committed(out)
	}
}

// wait returns after d, or false at once when ctx ends.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
