package callback

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Outcome classifies one attempt.
type Outcome int

const (
	// Delivered: a 2xx answer.
	Delivered Outcome = iota + 1
	// Retry: network error, timeout, 408, 429, 5xx or 3xx; the schedule decides when.
	Retry
	// Permanent: any other 4xx, or a destination the SSRF guard refuses; not retried.
	Permanent
	// Gone: 410; the delivery fails and the endpoint is disabled.
	Gone
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	case Gone:
		return "gone"
	}
	return "unknown"
}

// Error codes written to the attempt log (Hook0's vocabulary).
const (
	CodeTimeout       = "E_TIMEOUT"
	CodeConnection    = "E_CONNECTION"
	CodeDNS           = "E_DNS"
	CodeHTTP          = "E_HTTP"
	CodeInvalidTarget = "E_INVALID_TARGET"
	CodeUnknown       = "E_UNKNOWN"
)

// Result is the classification of one attempt.
type Result struct {
	Outcome Outcome
	// Code is empty on success, else one of the Code* constants.
	Code string
	// Throttle is set after a timeout or 429: the next delay is at least Policy.ThrottleFloor.
	Throttle bool
}

// Classify maps the answer of one attempt (status when err is nil) to an outcome.
func Classify(status int, err error) Result {
	if err != nil {
		var dnsErr *net.DNSError
		var nerr net.Error
		switch {
		case errors.Is(err, ErrForbiddenAddress):
			return Result{Outcome: Permanent, Code: CodeInvalidTarget}
		case errors.As(err, &dnsErr):
			return Result{Outcome: Retry, Code: CodeDNS}
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
			return Result{Outcome: Retry, Code: CodeTimeout, Throttle: true}
		default:
			return Result{Outcome: Retry, Code: CodeConnection}
		}
	}
	switch {
	case status >= 200 && status < 300:
		return Result{Outcome: Delivered}
	case status == http.StatusGone:
		return Result{Outcome: Gone, Code: CodeHTTP}
	case status == http.StatusTooManyRequests:
		return Result{Outcome: Retry, Code: CodeHTTP, Throttle: true}
	case status == http.StatusRequestTimeout, status >= 500, status >= 300 && status < 400:
		// 3xx: redirects are not followed; the owner must fix the URL, so keep retrying
		// on the schedule meanwhile (delivery.md section 2).
		return Result{Outcome: Retry, Code: CodeHTTP}
	case status >= 400 && status < 500:
		return Result{Outcome: Permanent, Code: CodeHTTP}
	}
	return Result{Outcome: Retry, Code: CodeUnknown}
}

// DefaultSchedule is Svix's: after the immediate first attempt, 5 s, 5 min, 30 min, 2 h,
// 5 h, 10 h, 10 h (8 attempts, about 27.6 h).
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Policy computes when a failed delivery is tried again.
type Policy struct {
	// Schedule holds the delays before attempts 2, 3, …; len(Schedule)+1 attempts in all.
	Schedule []time.Duration
	// Jitter is the relative spread, 0.2 for ±20 %.
	Jitter float64
	// ThrottleFloor is the least delay after a timeout or a 429 (Svix: 60 s).
	ThrottleFloor time.Duration
	// Rand returns a number in [0,1); math/rand/v2 when nil. Tests inject it.
	Rand func() float64
}

// Next returns the delay before the next attempt after tries attempts (tries >= 1) ended
// with r, honouring retryAfter (0 when absent) clamped to [delay, 2 x delay]. ok is false
// when the schedule is exhausted or the failure is not retried.
func (p Policy) Next(tries int, r Result, retryAfter time.Duration) (time.Duration, bool) {
	if r.Outcome != Retry || tries < 1 || tries > len(p.Schedule) {
		return 0, false
	}
	d := p.Schedule[tries-1]
	if p.Jitter > 0 {
		rnd := rand.Float64
		if p.Rand != nil {
			rnd = p.Rand
		}
		d = time.Duration(float64(d) * (1 + p.Jitter*(2*rnd()-1)))
	}
	if retryAfter > 0 {
		d = min(max(retryAfter, d), 2*d)
	}
	if r.Throttle && d < p.ThrottleFloor {
		d = p.ThrottleFloor
	}
	return d, true
}

// maxRetryAfter bounds what a receiver can ask for; the policy clamps it further.
const maxRetryAfter = 30 * 24 * time.Hour

// ParseRetryAfter reads a Retry-After header: delta seconds or an HTTP date. It returns 0
// when absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
