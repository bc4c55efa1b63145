package limit

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func testLimiter(r Rate) (*Limiter, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := NewLimiter(r)
	l.now = c.now
	return l, c
}

func TestLimiterBucket(t *testing.T) {
	t.Parallel()
	l, clock := testLimiter(Rate{PerMinute: 60, Burst: 3}) // a token a second
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th request: ok=%v wait=%s, want refused with wait in (0, 1s]", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	clock.advance(wait)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after the announced wait")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a second token appeared from nothing")
	}
	clock.advance(time.Hour) // refill caps at the burst
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("after an hour, request %d refused", i+1)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("the bucket held more than its burst")
	}
}

func TestLimiterOffAndNil(t *testing.T) {
	t.Parallel()
	if l := NewLimiter(Rate{}); l != nil {
		t.Fatal("a zero rate built a limiter")
	}
	var l *Limiter
	if ok, _ := l.Allow("x"); !ok {
		t.Fatal("a nil limiter refused")
	}
}

// A flood of distinct keys does not grow the limiter without bound, and keys whose buckets
// refilled are the ones forgotten first.
func TestLimiterForgets(t *testing.T) {
	t.Parallel()
	l, clock := testLimiter(Rate{PerMinute: 60, Burst: 1})
	l.maxKeys = 10
	l.Allow("busy")
	clock.advance(100 * time.Millisecond)
	for i := range 9 {
		l.Allow(strconv.Itoa(i))
	}
	clock.advance(2 * time.Second) // all of them refilled...
	l.Allow("busy")                // ...but busy is empty again
	l.Allow("new")                 // over maxKeys: the refilled ones go
	if len(l.buckets) != 2 {
		t.Fatalf("%d buckets kept, want busy and new", len(l.buckets))
	}
	if ok, _ := l.Allow("busy"); ok {
		t.Fatal("busy's empty bucket was forgotten")
	}
	for i := range 50 {
		l.Allow("flood" + strconv.Itoa(i))
	}
	if len(l.buckets) > l.maxKeys {
		t.Fatalf("%d buckets, bound %d", len(l.buckets), l.maxKeys)
	}
}

func TestSource(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name, remote, xff string
		want              string
	}{
		{"direct ipv4", "203.0.113.7:5000", "", "203.0.113.7"},
		{"forged header from an untrusted peer", "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"through a trusted proxy", "10.1.2.3:443", "198.51.100.1", "198.51.100.1"},
		{"through two trusted proxies", "10.1.2.3:443", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"client-supplied hop before the real one", "10.1.2.3:443", "1.1.1.1, 198.51.100.1", "198.51.100.1"},
		{"garbled hop", "10.1.2.3:443", "nonsense, 198.51.100.1", "198.51.100.1"},
		{"ipv6 counts as its /64", "[2001:db8:1:2:aaaa::1]:5000", "", "2001:db8:1:2::/64"},
		{"v4-mapped v6", "[::ffff:203.0.113.7]:5000", "", "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/sep6/info", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := Source(r, proxies); got != tt.want {
				t.Fatalf("Source = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPerAddress(t *testing.T) {
	t.Parallel()
	l, _ := testLimiter(Rate{PerMinute: 6, Burst: 2})
	h := PerAddress(l, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	send := func(remote, method string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/sep12/customer", nil)
		r.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	for range 2 {
		if rec := send("203.0.113.7:1", http.MethodGet); rec.Code != http.StatusNoContent {
			t.Fatalf("burst refused: %d", rec.Code)
		}
	}
	rec := send("203.0.113.7:2", http.MethodGet)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", rec.Code)
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 10 {
		t.Fatalf("Retry-After %q, want 1..10 seconds", rec.Header().Get("Retry-After"))
	}
	var body struct{ Error, Code string }
	if json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Code != CodeRateLimited || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("body %s, headers %v", rec.Body, rec.Header())
	}
	if rec := send("203.0.113.7:3", http.MethodOptions); rec.Code != http.StatusNoContent {
		t.Fatalf("a CORS preflight was limited: %d", rec.Code)
	}
	if rec := send("127.0.0.1:4", http.MethodGet); rec.Code != http.StatusNoContent {
		t.Fatalf("loopback was limited: %d", rec.Code)
	}
	for range 5 {
		if rec := send("[::1]:5", http.MethodGet); rec.Code != http.StatusNoContent {
			t.Fatalf("ipv6 loopback was limited: %d", rec.Code)
		}
	}
	if rec := send("198.51.100.9:1", http.MethodGet); rec.Code != http.StatusNoContent {
		t.Fatalf("another address was limited: %d", rec.Code)
	}
}

func TestDisk(t *testing.T) {
	t.Parallel()
	free := map[string]uint64{"/spool": 5 << 30, "/db": 1<<30 + 100}
	d := NewDisk(1<<30, "/spool", "/db", "/unknown")
	d.free = func(p string) (uint64, error) {
		n, ok := free[p]
		if !ok {
			return 0, errors.New("no such filesystem")
		}
		return n, nil
	}
	if err := d.Check(100); err != nil {
		t.Fatalf("Check(100) = %v with exactly the reserve left", err)
	}
	err := d.Check(101)
	var de *DiskError
	if !errors.As(err, &de) || de.Path != "/db" {
		t.Fatalf("Check(101) = %v, want a DiskError on /db", err)
	}
	rec := httptest.NewRecorder()
	if !Refuse(rec, err) || rec.Code != http.StatusInsufficientStorage || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("Refuse: %d %v", rec.Code, rec.Header())
	}
	var off *Disk
	if off.Check(1<<62) != nil || NewDisk(0, "/db").Check(1<<62) != nil {
		t.Fatal("a guard that is off refused")
	}
	// The real statfs on a real directory: some space is free, and a reserve larger than any
	// disk refuses.
	if n, err := freeBytes(t.TempDir() + "/not/yet/made"); err != nil || n == 0 {
		t.Fatalf("freeBytes = %d, %v", n, err)
	}
	if NewDisk(1<<62, t.TempDir()).Check(0) == nil {
		t.Fatal("a reserve of 4 EiB was satisfied")
	}
}

func TestQuotaCheck(t *testing.T) {
	t.Parallel()
	q := Quota{Name: "limits.files_per_identity", Max: 3}
	if q.Check(2, 1, "files") != nil {
		t.Fatal("refused at the bound")
	}
	err := q.Check(3, 1, "files")
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Quota != "limits.files_per_identity" || qe.Limit != 3 {
		t.Fatalf("Check = %v", err)
	}
	rec := httptest.NewRecorder()
	if !Refuse(rec, err) || rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "3600" {
		t.Fatalf("Refuse: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if (Quota{Max: 0}).Check(1<<40, 1, "x") != nil {
		t.Fatal("an unbounded quota refused")
	}
	if Refuse(httptest.NewRecorder(), errors.New("other")) {
		t.Fatal("Refuse answered an unrelated error")
	}
}
