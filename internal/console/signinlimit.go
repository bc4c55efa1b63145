package console

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// ActionSignInFailed is the audit row of a refused sign-in token. The rows are also the
// sign-in rate limit's memory: counted from the database, the limit holds across every
// instance behind a load balancer and survives restarts.
const ActionSignInFailed = "console.signin_failed"

// SignInLimit bounds failed sign-ins within Window: PerAddress from one source address,
// and Total from all addresses together (a guesser spreading attempts over many
// addresses). Beyond either, every sign-in — even with a good token — is answered 429
// until enough failures have aged out of the window. Zero values take the defaults
// (10 per address, 100 in all, 15 minutes); a negative count turns that limit off.
type SignInLimit struct {
	PerAddress int
	Total      int
	Window     time.Duration
}

func (l SignInLimit) withDefaults() SignInLimit {
	if l.PerAddress == 0 {
		l.PerAddress = 10
	}
	if l.Total == 0 {
		l.Total = 100
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	return l
}

// sourceAddress is the address a sign-in came from: the connection's peer. A proxy's
// X-Forwarded-For is not believed (a guesser would write a fresh one per attempt); behind
// a proxy every operator shares the proxy's address, and the per-address limit is the
// proxy's.
func sourceAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signInWait reports how long the source address must wait before trying again (0: it
// may try now). It reads the failure rows of the window.
func (c *Console) signInWait(ctx context.Context, addr string) (time.Duration, error) {
	l := c.opts.SignInLimit
	now := c.opts.Now()
	from := store.Micros(now.Add(-l.Window))
	for _, q := range []struct {
		limit int
		sql   string
		args  []any
	}{
		{l.PerAddress, `SELECT COUNT(*), COALESCE(MIN(at), 0) FROM console_audit WHERE action = ? AND at > ? AND target = ?`,
			[]any{ActionSignInFailed, from, "address:" + addr}},
		{l.Total, `SELECT COUNT(*), COALESCE(MIN(at), 0) FROM console_audit WHERE action = ? AND at > ?`,
			[]any{ActionSignInFailed, from}},
	} {
		if q.limit < 0 {
			continue
		}
		var n, oldest int64
		if err := c.opts.DB.QueryRowContext(ctx, q.sql, q.args...).Scan(&n, &oldest); err != nil {
			return 0, fmt.Errorf("console: count failed sign-ins: %w", err)
		}
		if n >= int64(q.limit) {
			// The oldest failure leaves the window first; then one more try is allowed.
			return max(store.FromMicros(oldest).Add(l.Window).Sub(now), time.Second), nil
		}
	}
	return 0, nil
}

// tooManySignIns answers 429 with Retry-After and the sign-in page saying why.
func (c *Console) tooManySignIns(w http.ResponseWriter, r *http.Request, next string, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	mins := (secs + 59) / 60
	c.render(w, r, nil, http.StatusTooManyRequests, "signin", map[string]any{"Next": next,
		"Error": "Too many failed sign-ins. Try again in " + strconv.Itoa(mins) + " minute(s)."})
}
