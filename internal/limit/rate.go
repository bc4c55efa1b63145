// Package limit bounds what callers of the public listener can make vaspgate do: token-bucket
// rate limits per key (a source address, a SEP-10 identity), the quota error the domain
// packages return when a caller already owns as much as it may (counted from their rows, so
// every instance agrees), a free-space guard that keeps the disk the travel-rule spool
// needs, and the one way all of them are answered over HTTP (429 with Retry-After, or 507).
//
// Rate limits come in two kinds. Limiter keeps its buckets in memory, per instance: N
// instances behind a load balancer let a caller through at up to N times its rate, and a
// refusal costs no database round trip — right for the per-address limit, the flood filter
// in front of every public request. Shared keeps them in the database, one bucket for every
// instance — right for the per-identity limit, which bounds what an authenticated caller
// makes vaspgate do. Everything a caller can keep (files, customers, pending transactions)
// is bounded by quotas counted in the database as well.
package limit

import (
	"math"
	"sync"
	"time"
)

// Rate is a token bucket's shape: Burst requests at once, refilled at PerMinute a minute.
// The zero Rate (or a non-positive PerMinute) means no limit.
type Rate struct {
	PerMinute float64
	Burst     int
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.PerMinute <= 0 }

// DefaultMaxKeys bounds how many keys a Limiter tracks before it forgets idle ones.
const DefaultMaxKeys = 100_000

// Limiter is a set of token buckets, one per key, safe for concurrent use.
type Limiter struct {
	perSec  float64
	burst   float64
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter of rate r; nil when r is Off (a nil *Limiter allows all).
func NewLimiter(r Rate) *Limiter {
	if r.Off() {
		return nil
	}
	burst := max(r.Burst, 1)
	return &Limiter{perSec: r.PerMinute / 60, burst: float64(burst), maxKeys: DefaultMaxKeys,
		now: time.Now, buckets: make(map[string]*bucket)}
}

// Allow takes a token from key's bucket. When the bucket is empty it returns false and how
// long until a token is there again (what Retry-After says).
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.forget(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	} else if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.perSec)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.perSec * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// forget drops the buckets that have refilled: they hold nothing a new bucket would not.
// When every tracked key is still busy (a flood from more keys than maxKeys), it starts
// over rather than grow without bound; a flood that wide is the address limit's to see.
func (l *Limiter) forget(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.perSec >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxKeys {
		clear(l.buckets)
	}
}
