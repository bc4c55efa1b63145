package limit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Bucket takes a token from a key's bucket; when the bucket is empty it returns false and
// how long until a token is there again. *Limiter keeps the buckets in this process,
// *Shared in the database, for every instance at once.
type Bucket interface {
	Take(ctx context.Context, key string) (bool, time.Duration)
}

// Take implements Bucket.
func (l *Limiter) Take(_ context.Context, key string) (bool, time.Duration) { return l.Allow(key) }

// Shared is a token bucket per key kept in the database (table rate_buckets), so that N
// instances behind a load balancer let a caller through at the configured rate, not N
// times it. A take is one statement: refill by the time since the last take, take a token
// if there is one, under the row's lock. It costs a database round trip per request, which
// is why it guards the per-identity limit (a caller that authenticated: the JWT check
// already cost more) and not the per-address flood limit, which stays in memory (Limiter).
//
// When the database does not answer within Budget, the take falls back to an in-process
// bucket of the same rate: a slow database must not turn the limiter into the outage it
// exists to prevent, and the in-process bucket still bounds this instance.
type Shared struct {
	db     *store.DB
	scope  string
	perSec float64
	burst  float64
	// Budget bounds one database take. 0 means 250 ms.
	Budget time.Duration
	now    func() time.Time
	local  *Limiter
	log    *slog.Logger
}

// NewShared returns a shared limiter of rate r for scope (the bucket's name space, e.g.
// "identity"); nil when r is Off (a nil *Shared allows all). log receives the fallbacks
// (nil: none).
func NewShared(db *store.DB, scope string, r Rate, log *slog.Logger) *Shared {
	if r.Off() {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Shared{db: db, scope: scope, perSec: r.PerMinute / 60, burst: float64(max(r.Burst, 1)),
		now: time.Now, local: NewLimiter(r), log: log}
}

// Take implements Bucket.
func (s *Shared) Take(ctx context.Context, key string) (bool, time.Duration) {
	if s == nil {
		return true, 0
	}
	budget := s.Budget
	if budget <= 0 {
		budget = 250 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	ok, wait, err := s.take(ctx, key)
	if err != nil {
		s.log.Warn("shared rate limit: database take failed, limiting in this process", "scope", s.scope, "err", err)
		return s.local.Allow(key)
	}
	return ok, wait
}

// take refills and takes in one statement; no row back means the bucket had no token.
func (s *Shared) take(ctx context.Context, key string) (bool, time.Duration, error) {
	now := store.Micros(s.now())
	perMicro := s.perSec / 1e6
	least := "LEAST"
	if s.db.Dialect() == store.SQLite {
		least = "MIN" // SQLite's scalar MIN of several arguments
	}
	// The casts name the parameters' types for PostgreSQL (it would take the rate for a
	// BIGINT beside the microseconds); SQLite reads them as REAL.
	refilled := fmt.Sprintf("%s(CAST(? AS DOUBLE PRECISION), rate_buckets.tokens + (excluded.at - rate_buckets.at) * CAST(? AS DOUBLE PRECISION))", least)
	var left float64
	err := s.db.QueryRowContext(ctx, `INSERT INTO rate_buckets (scope, key, tokens, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, key) DO UPDATE SET tokens = `+refilled+` - 1, at = excluded.at
		WHERE `+refilled+` >= 1 RETURNING tokens`,
		s.scope, key, s.burst-1, now, s.burst, perMicro, s.burst, perMicro).Scan(&left)
	if err == nil {
		return true, 0, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, 0, fmt.Errorf("limit: take %s: %w", s.scope, err)
	}
	var (
		tokens float64
		at     int64
	)
	if err := s.db.QueryRowContext(ctx, "SELECT tokens, at FROM rate_buckets WHERE scope = ? AND key = ?", s.scope, key).
		Scan(&tokens, &at); err != nil {
		return false, 0, fmt.Errorf("limit: read %s bucket: %w", s.scope, err)
	}
	have := math.Min(s.burst, tokens+float64(max(now-at, 0))*perMicro)
	wait := time.Duration((1 - have) / s.perSec * float64(time.Second))
	return false, max(wait, time.Millisecond), nil
}

// Purge deletes the buckets that have refilled completely (they hold nothing a new bucket
// would not) and returns how many; app runs it as a periodic maintenance task (job.Every),
// off the request path.
func (s *Shared) Purge(ctx context.Context) (int, error) {
	full := s.now().Add(-time.Duration(s.burst / s.perSec * float64(time.Second)))
	res, err := s.db.ExecContext(ctx, "DELETE FROM rate_buckets WHERE scope = ? AND at < ?", s.scope, store.Micros(full))
	if err != nil {
		return 0, fmt.Errorf("limit: purge %s buckets: %w", s.scope, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
