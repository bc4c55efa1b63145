package callback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

func endpointOf(t *testing.T, e *Engine, u string) Endpoint {
	t.Helper()
	ep, err := e.Endpoint(context.Background(), WalletEndpointID(u))
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func drainReceived(rc *receiver) int {
	n := 0
	for {
		select {
		case <-rc.got:
			n++
		default:
			return n
		}
	}
}

func TestCircuitOpensProbesAndCloses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		var up atomic.Bool
		rc.setRespond(func(received, http.Header) int {
			if up.Load() {
				return 200
			}
			return 500
		})
		cfg := testConfig()
		cfg.CircuitThreshold = 3
		cfg.CircuitCooldown = time.Minute
		cfg.RetrySchedule = []time.Duration{time.Second, time.Second, time.Second, time.Second, time.Second}
		b := setup(t, db, cfg)
		u := rc.url("/w")
		for _, s := range []string{"a", "b", "c"} {
			b.wallet(t, u, Message{EventID: "ev-" + s, Type: "t", Subject: s, Body: []byte(`{}`)})
		}
		wait.For(t, "circuit open", func() bool { ep := endpointOf(t, b.eng, u); return ep.Failures == 3 && ep.CircuitOpen })
		if n := drainReceived(rc); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
		// Retries are due, but the circuit is open: nothing is claimed.
		b.clock.Advance(2 * time.Second)
		if cs, _, err := b.eng.claim(context.Background(), 10); err != nil || len(cs) != 0 {
			t.Fatalf("claimed %d with the circuit open (%v)", len(cs), err)
		}
		// After the cooldown, exactly one probe; it fails and the cooldown doubles.
		b.clock.Advance(time.Minute)
		b.eng.Wake()
		rc.next(t)
		wait.For(t, "probe recorded", func() bool { return endpointOf(t, b.eng, u).Failures == 4 })
		ep := endpointOf(t, b.eng, u)
		if !ep.CircuitOpen || !ep.CircuitUntil.Equal(b.clock.Now().Add(2*time.Minute)) {
			t.Fatalf("after a failed probe: %+v", ep)
		}
		if n := drainReceived(rc); n != 0 {
			t.Fatalf("%d requests besides the probe", n)
		}
		if ep.LastSuccess != nil {
			t.Fatalf("last success %v before any delivery succeeded", ep.LastSuccess)
		}
		// The endpoint recovers: the next probe succeeds and everything flows.
		up.Store(true)
		b.clock.Advance(2 * time.Minute)
		b.eng.Wake()
		wait.For(t, "all delivered", func() bool {
			for _, s := range []string{"a", "b", "c"} {
				if deliveryOf(t, b.eng, "ev-"+s).Status != StatusDelivered {
					b.eng.Wake()
					return false
				}
			}
			return true
		})
		if ep := endpointOf(t, b.eng, u); ep.Failures != 0 || ep.CircuitOpen || ep.LastSuccess == nil || !ep.LastSuccess.Equal(b.clock.Now()) {
			t.Fatalf("after recovery: %+v (want last success at %v)", ep, b.clock.Now())
		}
	})
}

func TestEndpointDisabledAfterDaysAndOn410(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		var code atomic.Int32
		code.Store(500)
		rc.setRespond(func(r received, _ http.Header) int {
			if r.Path == "/gone" {
				return 410
			}
			return int(code.Load())
		})
		cfg := testConfig()
		cfg.CircuitThreshold = 100
		cfg.DisableAfter = time.Hour
		cfg.RetrySchedule = []time.Duration{2 * time.Hour, 2 * time.Hour}
		b := setup(t, db, cfg)
		u := rc.url("/down")
		b.wallet(t, u, Message{EventID: "d1", Type: "t", Subject: "s", Body: []byte(`{}`)})
		b.wallet(t, u, Message{EventID: "d2", Type: "t", Subject: "s2", Body: []byte(`{}`)})
		rc.next(t)
		rc.next(t)
		wait.For(t, "failures counted", func() bool { return endpointOf(t, b.eng, u).Failures == 2 })
		b.clock.Advance(2 * time.Hour)
		b.eng.Wake()
		rc.next(t)
		wait.For(t, "disabled", func() bool { return endpointOf(t, b.eng, u).State == "disabled" })
		wait.For(t, "paused", func() bool {
			return deliveryOf(t, b.eng, "d1").Status == StatusPaused && deliveryOf(t, b.eng, "d2").Status == StatusPaused
		})
		// New deliveries to a disabled endpoint are kept, paused.
		b.wallet(t, u, Message{EventID: "d3", Type: "t", Subject: "s", Body: []byte(`{}`)})
		if st := deliveryOf(t, b.eng, "d3").Status; st != StatusPaused {
			t.Fatalf("new delivery to a disabled endpoint is %s", st)
		}
		// Let the attempt still in flight when the endpoint was disabled finish (it would
		// otherwise reschedule its delivery after the enable).
		wait.For(t, "nothing in flight", func() bool {
			var n int
			_ = db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM callback_deliveries WHERE lease_token <> ''`).Scan(&n)
			return n == 0
		})
		// Fixed and enabled: everything is sent, in order.
		code.Store(200)
		if err := b.eng.SetEndpointEnabled(context.Background(), WalletEndpointID(u), true); err != nil {
			t.Fatal(err)
		}
		wait.For(t, "delivered after enable", func() bool {
			return deliveryOf(t, b.eng, "d1").Status == StatusDelivered && deliveryOf(t, b.eng, "d2").Status == StatusDelivered &&
				deliveryOf(t, b.eng, "d3").Status == StatusDelivered
		})

		g := rc.url("/gone")
		b.wallet(t, g, Message{EventID: "g1", Type: "t", Subject: "s", Body: []byte(`{}`)})
		wait.For(t, "410 disables", func() bool { return endpointOf(t, b.eng, g).State == "disabled" })
		if ep := endpointOf(t, b.eng, g); ep.DisabledReason != "410 Gone" {
			t.Fatalf("reason %q", ep.DisabledReason)
		}
		if st := deliveryOf(t, b.eng, "g1").Status; st != StatusFailed {
			t.Fatalf("410 delivery is %s", st)
		}
	})
}

func TestDeadLettersAndReplay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		var code atomic.Int32
		code.Store(400)
		rc.setRespond(func(received, http.Header) int { return int(code.Load()) })
		b := setup(t, db, testConfig())
		u := rc.url("/w")
		t0 := b.clock.Now()
		for _, id := range []string{"f1", "f2", "f3"} {
			b.wallet(t, u, Message{EventID: id, Type: "t", Subject: id, Body: []byte(`{}`)})
			b.clock.Advance(time.Minute)
		}
		wait.For(t, "dead letters", func() bool {
			l, _, err := b.eng.Deliveries(context.Background(), Filter{Status: StatusFailed})
			return err == nil && len(l) == 3
		})
		// Pagination over the dead letters, newest first.
		page, cursor, err := b.eng.Deliveries(context.Background(), Filter{Status: StatusFailed, EndpointID: WalletEndpointID(u), Limit: 2})
		if err != nil || len(page) != 2 || cursor == "" || page[0].EventID != "f3" {
			t.Fatalf("page 1: %v %q %v", page, cursor, err)
		}
		page, cursor, err = b.eng.Deliveries(context.Background(), Filter{Status: StatusFailed, Cursor: cursor, Limit: 2})
		if err != nil || len(page) != 1 || cursor != "" || page[0].EventID != "f1" {
			t.Fatalf("page 2: %v %q %v", page, cursor, err)
		}
		// And oldest first: the cursor continues forward.
		page, cursor, err = b.eng.Deliveries(context.Background(), Filter{Status: StatusFailed, Oldest: true, Limit: 2})
		if err != nil || len(page) != 2 || cursor == "" || page[0].EventID != "f1" || page[1].EventID != "f2" {
			t.Fatalf("oldest page 1: %v %q %v", page, cursor, err)
		}
		page, cursor, err = b.eng.Deliveries(context.Background(), Filter{Status: StatusFailed, Oldest: true, Cursor: cursor, Limit: 2})
		if err != nil || len(page) != 1 || cursor != "" || page[0].EventID != "f3" {
			t.Fatalf("oldest page 2: %v %q %v", page, cursor, err)
		}
		if l, _, _ := b.eng.Deliveries(context.Background(), Filter{Subject: "f2"}); len(l) != 1 {
			t.Fatalf("by subject: %v", l)
		}
		code.Store(200)
		drainReceived(rc)
		if err := b.eng.Replay(context.Background(), deliveryOf(t, b.eng, "f1").ID); err != nil {
			t.Fatal(err)
		}
		wait.For(t, "replayed", func() bool { return deliveryOf(t, b.eng, "f1").Status == StatusDelivered })
		if d := deliveryOf(t, b.eng, "f1"); len(d.AttemptLog) != 2 || d.AttemptLog[0].StatusCode != 400 || d.AttemptLog[1].StatusCode != 200 {
			t.Fatalf("attempt log %+v", d.AttemptLog)
		}
		if err := b.eng.Replay(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("replay of an unknown id: %v", err)
		}
		// Replay the endpoint's failures since t0+90s: only f3.
		n, err := b.eng.ReplayEndpoint(context.Background(), WalletEndpointID(u), t0.Add(90*time.Second))
		if err != nil || n != 1 {
			t.Fatalf("replayed %d (%v), want 1", n, err)
		}
		wait.For(t, "f3 replayed", func() bool { return deliveryOf(t, b.eng, "f3").Status == StatusDelivered })
		if st := deliveryOf(t, b.eng, "f2").Status; st != StatusFailed {
			t.Fatalf("f2 is %s", st)
		}
		checkSorts(t, b.eng)
	})
}

// checkSorts walks the deliveries a page of one at a time in every order and direction:
// each is seen once, in (column, id) order; "before" bounds the list in either direction.
func checkSorts(t *testing.T, eng *Engine) {
	t.Helper()
	ctx := context.Background()
	all, _, err := eng.Deliveries(ctx, Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if d.UpdatedAt.Before(d.CreatedAt) || (d.Attempts > 0 && !d.UpdatedAt.After(d.CreatedAt) && d.FinishedAt != nil && d.FinishedAt.After(d.CreatedAt)) {
			t.Errorf("delivery %s: updated %v, created %v, finished %v", d.EventID, d.UpdatedAt, d.CreatedAt, d.FinishedAt)
		}
	}
	key := map[string]func(Delivery) string{
		SortCreated:  func(d Delivery) string { return d.ID },
		SortStatus:   func(d Delivery) string { return d.rawStatus + " " + d.ID },
		SortUpdated:  func(d Delivery) string { return fmt.Sprintf("%020d %s", store.Micros(d.UpdatedAt), d.ID) },
		SortAttempts: func(d Delivery) string { return fmt.Sprintf("%05d %s", d.Attempts, d.ID) },
	}
	for sort, k := range key {
		for _, oldest := range []bool{false, true} {
			seen := walkPages(t, eng, Filter{Sort: sort, Oldest: oldest, Limit: 1}, k, len(all))
			if want := sortedKeys(all, k, oldest); !slices.Equal(seen, want) {
				t.Errorf("sort %q oldest=%v: walked %v, want %v", sort, oldest, seen, want)
			}
		}
	}
	// Created before the newest delivery: every other one, in either order.
	for _, oldest := range []bool{false, true} {
		l, _, err := eng.Deliveries(ctx, Filter{Before: all[0].ID, Oldest: oldest})
		if err != nil || len(l) != len(all)-1 || slices.ContainsFunc(l, func(d Delivery) bool { return d.ID >= all[0].ID }) {
			t.Errorf("before the newest, oldest=%v: %d deliveries (%v), want %d", oldest, len(l), err, len(all)-1)
		}
	}
	if _, _, err := eng.Deliveries(ctx, Filter{Sort: SortStatus, Cursor: "edited"}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("edited cursor: %v, want store.ErrBadCursor", err)
	}
	if _, _, err := eng.Deliveries(ctx, Filter{Sort: "size"}); !errors.Is(err, ErrBadSort) {
		t.Errorf("unknown sort: %v, want ErrBadSort", err)
	}
}

func TestEngineRefusesForbiddenDestinations(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	rc := newReceiver(t)
	cfg := testConfig()
	cfg.AllowCIDRs = nil
	cfg.WalletAllowCIDRs = nil
	b := setup(t, db, cfg)
	port := rc.srv.URL[strings.LastIndex(rc.srv.URL, ":"):]
	b.wallet(t, "http://localhost"+port+"/w", Message{EventID: "ssrf", Type: "t", Subject: "s", Body: []byte(`{}`)})
	wait.For(t, "refused", func() bool { return deliveryOf(t, b.eng, "ssrf").Status == StatusFailed })
	d := deliveryOf(t, b.eng, "ssrf")
	if d.AttemptLog[0].ErrorCode != CodeInvalidTarget {
		t.Fatalf("attempt %+v", d.AttemptLog[0])
	}
	if n := drainReceived(rc); n != 0 {
		t.Fatal("the receiver was reached")
	}
}

// callback.allow_cidrs opens a range for the business endpoint and the operator's configured
// client URLs, never for URLs wallets register (issue 11, defect 3).
func TestSSRFScopes(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	rc := newReceiver(t)
	cfg := testConfig()
	cfg.AllowCIDRs = []string{"127.0.0.0/8"}
	cfg.WalletAllowCIDRs = nil
	configured := rc.url("/client")
	b := setup(t, db, cfg, WithConfiguredURLs(configured))

	b.wallet(t, rc.url("/registered"), Message{EventID: "registered", Type: "t", Subject: "s1", Body: []byte(`{}`)})
	wait.For(t, "the registered URL refused", func() bool { return deliveryOf(t, b.eng, "registered").Status == StatusFailed })
	if d := deliveryOf(t, b.eng, "registered"); d.AttemptLog[0].ErrorCode != CodeInvalidTarget {
		t.Fatalf("registered URL attempt %+v", d.AttemptLog[0])
	}
	b.wallet(t, configured, Message{EventID: "configured", Type: "t", Subject: "s2", Body: []byte(`{}`)})
	if r := rc.next(t); r.Path != "/client" {
		t.Fatalf("received %s, want /client only", r.Path)
	}
	wait.For(t, "the configured URL delivered", func() bool { return deliveryOf(t, b.eng, "configured").Status == StatusDelivered })

	// The rule URLPolicy applies at registration is the same: the wallet scope.
	for _, g := range []struct {
		kind, url string
		allowed   bool
	}{
		{KindWallet, rc.url("/registered"), false},
		{KindWallet, configured, true},
		{KindBusiness, rc.url("/event"), true},
	} {
		p := URLPolicy{Guard: b.eng.scopes.For(g.kind, g.url), HTTPHosts: []string{strings.TrimPrefix(rc.srv.URL, "http://")}}
		if err := p.Check(context.Background(), g.url); (err == nil) != g.allowed {
			t.Errorf("%s %s: %v, want allowed %v", g.kind, g.url, err, g.allowed)
		}
	}
}

// A business endpoint the guard refuses is an endpoint problem, not a silent dead letter
// per event (issue 11, defect 4): the attempt is retried on the schedule, counts against the
// endpoint (its circuit opens) and is logged and counted in a metric; nothing is dialled.
func TestRefusedBusinessEndpointIsAnEndpointProblem(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	rc := newReceiver(t)
	cfg := testConfig()
	cfg.AllowCIDRs = nil
	cfg.CircuitThreshold = 1
	cfg.Business = Business{URL: rc.url("/event"), Format: EnvelopeAnchorPlatform, Auth: Auth{Type: AuthNone}}
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	cfg.Logger, cfg.Registerer = slog.New(slog.NewJSONHandler(logs, nil)), reg
	eng, err := New(context.Background(), db, cfg, WithRand(func() float64 { return 0.5 }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return eng.Outbox().Business(context.Background(), tx, Message{EventID: "biz", Type: "t", Subject: "s", Body: []byte(`{}`)})
	}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "an attempt", func() bool { return len(deliveryOf(t, eng, "biz").AttemptLog) > 0 })
	wait.For(t, "the circuit open", func() bool {
		var until int64
		_ = db.QueryRowContext(context.Background(), `SELECT circuit_until FROM callback_endpoints WHERE id = ?`, BusinessEndpointID).Scan(&until)
		return until > 0
	})
	d := deliveryOf(t, eng, "biz")
	if d.Status == StatusFailed || d.AttemptLog[0].ErrorCode != CodeInvalidTarget {
		t.Fatalf("delivery %s, attempt %+v: want pending with E_INVALID_TARGET", d.Status, d.AttemptLog[0])
	}
	if !strings.Contains(logs.String(), "configured callback destination refused by the SSRF guard") {
		t.Errorf("no log line:\n%s", logs.String())
	}
	if got := counterValue(t, reg, "vaspgate_callback_refused_destinations_total", "internal"); got < 1 {
		t.Errorf("refused metric = %v", got)
	}
	if n := drainReceived(rc); n != 0 {
		t.Fatal("the receiver was reached")
	}
}

// counterValue reads the counter name{scope=scope} from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, scope string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "scope" && l.GetValue() == scope {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// lockedBuffer is a log sink safe for the engine's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUpdatedAtFromCreation: a delivery's last change is its creation until something
// happens to it, whichever way the outbox wrote it (several in one business transaction go
// in one statement on PostgreSQL); its first attempt moves it.
func TestUpdatedAtFromCreation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		rc.setRespond(func(received, http.Header) int { return 500 })
		b := setup(t, db, testConfig())
		u := rc.url("/u")
		if err := db.InTx(context.Background(), func(tx *store.Tx) error {
			for _, id := range []string{"u1", "u2", "u3"} {
				if err := b.eng.Outbox().Wallet(context.Background(), tx, u, Message{EventID: id, Type: "t", Subject: "s", Body: []byte(`{}`)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		wait.For(t, "the head's first attempt", func() bool { return deliveryOf(t, b.eng, "u1").Attempts == 1 })
		for _, id := range []string{"u2", "u3"} {
			if d := deliveryOf(t, b.eng, id); d.Status != StatusQueued || !d.UpdatedAt.Equal(d.CreatedAt) || d.CreatedAt.IsZero() {
				t.Errorf("%s (%s): updated %v, created %v; want its creation", id, d.Status, d.UpdatedAt, d.CreatedAt)
			}
		}
		if d := deliveryOf(t, b.eng, "u1"); d.UpdatedAt.Before(d.CreatedAt) || d.UpdatedAt.IsZero() {
			t.Errorf("u1 after an attempt: updated %v, created %v", d.UpdatedAt, d.CreatedAt)
		}
	})
}
