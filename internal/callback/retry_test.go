package callback

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		err    error
		want   Outcome
		code   string
		thr    bool
	}{
		{200, nil, Delivered, "", false},
		{204, nil, Delivered, "", false},
		{301, nil, Retry, CodeHTTP, false},
		{400, nil, Permanent, CodeHTTP, false},
		{401, nil, Permanent, CodeHTTP, false},
		{404, nil, Permanent, CodeHTTP, false},
		{408, nil, Retry, CodeHTTP, false},
		{410, nil, Gone, CodeHTTP, false},
		{422, nil, Permanent, CodeHTTP, false},
		{429, nil, Retry, CodeHTTP, true},
		{500, nil, Retry, CodeHTTP, false},
		{503, nil, Retry, CodeHTTP, false},
		{0, fmt.Errorf("dial: %w", ErrForbiddenAddress), Permanent, CodeInvalidTarget, false},
		{0, &net.DNSError{Err: "no such host", Name: "x"}, Retry, CodeDNS, false},
		{0, context.DeadlineExceeded, Retry, CodeTimeout, true},
		{0, &net.OpError{Op: "dial", Err: fmt.Errorf("connection refused")}, Retry, CodeConnection, false},
	}
	for _, c := range cases {
		r := Classify(c.status, c.err)
		if r.Outcome != c.want || r.Code != c.code || r.Throttle != c.thr {
			t.Errorf("Classify(%d, %v) = %+v, want %v %s %v", c.status, c.err, r, c.want, c.code, c.thr)
		}
	}
}

func TestPolicySchedule(t *testing.T) {
	t.Parallel()
	mid := func() float64 { return 0.5 } // no jitter
	p := Policy{Schedule: DefaultSchedule, Jitter: 0.2, ThrottleFloor: time.Minute, Rand: mid}
	retry := Result{Outcome: Retry}
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	for i, w := range want {
		d, ok := p.Next(i+1, retry, 0)
		if !ok || d != w {
			t.Errorf("after %d attempts: %v %v, want %v", i+1, d, ok, w)
		}
	}
	if _, ok := p.Next(8, retry, 0); ok {
		t.Error("9th attempt scheduled: the schedule has 8")
	}
	if _, ok := p.Next(1, Result{Outcome: Permanent}, 0); ok {
		t.Error("permanent failure rescheduled")
	}
	// Jitter bounds.
	lo := Policy{Schedule: DefaultSchedule, Jitter: 0.2, Rand: func() float64 { return 0 }}
	hi := Policy{Schedule: DefaultSchedule, Jitter: 0.2, Rand: func() float64 { return 0.999999 }}
	if d, _ := lo.Next(2, retry, 0); d != 4*time.Minute {
		t.Errorf("low jitter %v", d)
	}
	if d, _ := hi.Next(2, retry, 0); d < 5*time.Minute+59*time.Second || d > 6*time.Minute {
		t.Errorf("high jitter %v", d)
	}
	// Retry-After is clamped to [delay, 2 x delay].
	if d, _ := p.Next(2, retry, time.Second); d != 5*time.Minute {
		t.Errorf("short Retry-After: %v", d)
	}
	if d, _ := p.Next(2, retry, 7*time.Minute); d != 7*time.Minute {
		t.Errorf("Retry-After within bounds: %v", d)
	}
	if d, _ := p.Next(2, retry, time.Hour); d != 10*time.Minute {
		t.Errorf("long Retry-After: %v", d)
	}
	// Throttle floor after a timeout or 429.
	if d, _ := p.Next(1, Result{Outcome: Retry, Throttle: true}, 0); d != time.Minute {
		t.Errorf("throttled: %v", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":    0,
		"120": 2 * time.Minute,
		"-1":  0,
		"x":   0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	}
	for in, want := range cases {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzParseRetryAfter: the header comes from any receiver; it must never panic nor yield a
// negative or unbounded delay.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "99999999999999999999", " 30 ", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseRetryAfter(s, now)
		if d < 0 || d > 30*24*time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v", s, d)
		}
	})
}
