package callback

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

func TestRetryScheduleWithInjectedClock(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		answers := []int{503, 429, 500, 200}
		var mu sync.Mutex
		n := 0
		rc.setRespond(func(_ received, h http.Header) int {
			mu.Lock()
			defer mu.Unlock()
			code := answers[min(n, len(answers)-1)]
			if n == 1 {
				h.Set("Retry-After", "600") // within [5 min, 10 min]: honoured
			}
			n++
			return code
		})
		b := setup(t, db, testConfig())
		t0 := b.clock.Now()
		b.wallet(t, rc.url("/w"), Message{EventID: "r1", Type: "t", Subject: "s", Body: []byte(`{}`)})

		expect := func(attempts int, next time.Time) {
			t.Helper()
			rc.next(t)
			wait.For(t, fmt.Sprintf("attempt %d recorded", attempts), func() bool { return deliveryOf(t, b.eng, "r1").Attempts == attempts })
			d := deliveryOf(t, b.eng, "r1")
			if d.Status != StatusPending || d.NextAt == nil || !d.NextAt.Equal(next) {
				t.Fatalf("after attempt %d: status %s, next %v, want %v", attempts, d.Status, d.NextAt, next)
			}
			// Not due before its time: nothing to claim a moment earlier.
			b.clock.Advance(next.Sub(b.clock.Now()) - time.Second)
			if cs, _, err := b.eng.claim(context.Background(), 10); err != nil || len(cs) != 0 {
				t.Fatalf("claimed %d before the retry time (%v)", len(cs), err)
			}
			b.clock.Advance(time.Second)
			b.eng.Wake()
		}
		expect(1, t0.Add(5*time.Second))                               // 503: first step of the schedule
		expect(2, t0.Add(5*time.Second+10*time.Minute))                // 429 + Retry-After 600 s
		expect(3, t0.Add(5*time.Second+10*time.Minute+30*time.Minute)) // 500: third step
		rc.next(t)
		wait.For(t, "delivered", func() bool { return deliveryOf(t, b.eng, "r1").Status == StatusDelivered })
		d := deliveryOf(t, b.eng, "r1")
		var codes []int
		for _, a := range d.AttemptLog {
			codes = append(codes, a.StatusCode)
		}
		if fmt.Sprint(codes) != "[503 429 500 200]" {
			t.Fatalf("attempt log codes %v", codes)
		}
	})
}

func TestScheduleExhaustedIsDeadLetter(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	rc := newReceiver(t)
	rc.setRespond(func(received, http.Header) int { return 500 })
	cfg := testConfig()
	cfg.RetrySchedule = []time.Duration{time.Second, time.Second}
	cfg.CircuitThreshold = 100
	b := setup(t, db, cfg)
	b.wallet(t, rc.url("/w"), Message{EventID: "x1", Type: "t", Subject: "s", Body: []byte(`{}`)})
	for i := 1; i <= 3; i++ {
		rc.next(t)
		wait.For(t, "attempt recorded", func() bool { return deliveryOf(t, b.eng, "x1").Attempts == i })
		b.clock.Advance(time.Second)
		b.eng.Wake()
	}
	d := deliveryOf(t, b.eng, "x1")
	if d.Status != StatusFailed || len(d.AttemptLog) != 3 || d.AttemptLog[2].ErrorCode != CodeHTTP {
		t.Fatalf("delivery %+v", d)
	}
}

// TestOrderingUnderFailures sends many events over several subjects to two endpoints that
// fail a third of the requests at random; every subject must be received in order, one
// request at a time.
func TestOrderingUnderFailures(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const subjects, perSubject = 8, 12
		rc := newReceiver(t)
		var mu sync.Mutex
		acked := map[string]int{}
		inflight := map[string]int{}
		var violations []string
		rng := rand.New(rand.NewPCG(1, 2))
		rc.setRespond(func(r received, _ http.Header) int {
			var m struct {
				S string `json:"s"`
				N int    `json:"n"`
			}
			_ = json.Unmarshal(r.Body, &m)
			key := r.Path + m.S
			mu.Lock()
			defer mu.Unlock()
			if inflight[key]++; inflight[key] > 1 {
				violations = append(violations, "concurrent "+key)
			}
			defer func() { inflight[key]-- }()
			if m.N != acked[key]+1 {
				violations = append(violations, fmt.Sprintf("%s: got %d after %d", key, m.N, acked[key]))
			}
			if rng.IntN(3) == 0 {
				return 500
			}
			acked[key] = m.N
			return 200
		})
		cfg := testConfig()
		cfg.RetrySchedule = make([]time.Duration, 40)
		for i := range cfg.RetrySchedule {
			cfg.RetrySchedule[i] = 2 * time.Millisecond
		}
		cfg.CircuitThreshold = 1000
		eng := start(t, db, cfg)
		for n := 1; n <= perSubject; n++ {
			for s := range subjects {
				for _, path := range []string{"/a", "/b"} {
					body := fmt.Sprintf(`{"s":"s%d","n":%d}`, s, n)
					if err := db.InTx(context.Background(), func(tx *store.Tx) error {
						return eng.Outbox().Wallet(context.Background(), tx, rc.url(path), Message{Type: "t", Subject: fmt.Sprintf("s%d", s), Body: []byte(body)})
					}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		wait.For(t, "everything delivered", func() bool {
			mu.Lock()
			defer mu.Unlock()
			total := 0
			for _, v := range acked {
				total += v
			}
			return total == 2*subjects*perSubject
		})
		mu.Lock()
		defer mu.Unlock()
		if len(violations) > 0 {
			t.Fatalf("%d ordering violations, first: %v", len(violations), violations[:min(5, len(violations))])
		}
	})
}

// TestNoHeadOfLineBlocking: a failing subject, a failing endpoint and a hanging endpoint
// delay nothing else.
func TestNoHeadOfLineBlocking(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		release := make(chan struct{})
		rc.setRespond(func(r received, _ http.Header) int {
			switch {
			case r.Path == "/hang":
				<-release
				return 200
			case r.Path == "/down", string(r.Body) == `{"bad":true}`:
				return 500
			}
			return 200
		})
		cfg := testConfig()
		cfg.Timeout = 5 * time.Second
		cfg.Lease = 20 * time.Second
		b := setup(t, db, cfg)
		t.Cleanup(func() { close(release) }) // runs before the engine stops
		for i := range 12 {
			b.wallet(t, rc.url("/hang"), Message{Type: "t", Subject: fmt.Sprintf("h%d", i), Body: []byte(`{}`)})
		}
		b.wallet(t, rc.url("/down"), Message{Type: "t", Subject: "d", Body: []byte(`{}`)})
		b.wallet(t, rc.url("/up"), Message{Type: "t", Subject: "bad", Body: []byte(`{"bad":true}`)})
		b.wallet(t, rc.url("/up"), Message{Type: "t", Subject: "bad", Body: []byte(`{"after-bad":true}`)})
		for i := range 20 {
			b.wallet(t, rc.url("/up"), Message{EventID: fmt.Sprintf("good-%d", i), Type: "t", Subject: fmt.Sprintf("g%d", i), Body: []byte(`{}`)})
		}
		for i := range 20 {
			wait.For(t, "good subjects delivered", func() bool { return deliveryOf(t, b.eng, fmt.Sprintf("good-%d", i)).Status == StatusDelivered })
		}
		// The failing subject's later event waits for it (ordering), nothing else does.
		var after string
		_ = db.QueryRowContext(context.Background(), `SELECT status FROM callback_deliveries WHERE body = ?`, []byte(`{"after-bad":true}`)).Scan(&after)
		if after != StatusQueued {
			t.Fatalf("event after the failing one is %s", after)
		}
		b.eng.mu.Lock()
		hanging := b.eng.inflight[WalletEndpointID(rc.url("/hang"))]
		b.eng.mu.Unlock()
		if hanging > b.eng.perEndpoint {
			t.Fatalf("%d attempts in flight to the hanging endpoint, cap %d", hanging, b.eng.perEndpoint)
		}
	})
}
