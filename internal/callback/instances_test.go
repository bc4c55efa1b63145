package callback

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// seqChecker is a receiver's view of one ordered stream per (path, subject): sequence
// numbers (the Vaspgate-Subject-Sequence header) must arrive as last acknowledged + 1 (or,
// after a failed answer, the same again), never two requests of one stream at once.
type seqChecker struct {
	mu         sync.Mutex
	acked      map[string]int64
	inflight   map[string]int
	violations []string
	total      int
}

func (c *seqChecker) begin(r received) (string, int64) {
	var b struct{ S string }
	_ = json.Unmarshal(r.Body, &b)
	key := r.Path + "|" + b.S
	seq, _ := strconv.ParseInt(r.Header.Get("Vaspgate-Subject-Sequence"), 10, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[key]++; c.inflight[key] > 1 {
		c.violations = append(c.violations, "two requests at once for "+key)
	}
	if seq != c.acked[key]+1 && seq != c.acked[key] {
		c.violations = append(c.violations, fmt.Sprintf("%s: got %d after %d", key, seq, c.acked[key]))
	}
	return key, seq
}

func (c *seqChecker) end(key string, seq int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight[key]--
	if ok && seq == c.acked[key]+1 {
		c.acked[key] = seq
		c.total++
	}
}

func (c *seqChecker) delivered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// TestInstancesNeverWaitForALease: two and three real engine processes share one PostgreSQL
// database under sustained load — eight producers recording at once, several of them for
// the same subject, a tenth of the requests answered 503 — with a lease far longer than the
// test may take. Every event must arrive in order, and every request the receiver saw must
// have its attempt recorded: a head left leased without a recorded attempt would hold its
// subject back for the whole lease and fail the wait. VASPGATE_SOAK_EVENTS sets the load
// (default 600 events per case).
func TestInstancesNeverWaitForALease(t *testing.T) {
	t.Parallel()
	events := 600
	if n, err := strconv.Atoi(os.Getenv("VASPGATE_SOAK_EVENTS")); err == nil && n > 0 {
		events = n
	}
	for _, procs := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d processes", procs), func(t *testing.T) {
			t.Parallel()
			dbURL := storetest.URL(t, store.Postgres)
			db, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			sc := &seqChecker{acked: map[string]int64{}, inflight: map[string]int{}}
			rc := newReceiver(t)
			var requests atomic.Int64
			var rmu sync.Mutex
			rng := rand.New(rand.NewPCG(uint64(procs), 7))
			rc.setRespond(func(r received, _ http.Header) int {
				requests.Add(1)
				key, seq := sc.begin(r)
				rmu.Lock()
				fail := rng.IntN(10) == 0
				rmu.Unlock()
				sc.end(key, seq, !fail)
				if fail {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			})
			for i := range procs {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "VASPGATE_CALLBACK_CHILD_DB="+dbURL,
					fmt.Sprintf("VASPGATE_CALLBACK_CHILD_NAME=p%d", i), "VASPGATE_CALLBACK_CHILD_FAST_RETRY=1",
					"VASPGATE_CALLBACK_CHILD_LEASE=10m", "VASPGATE_CALLBACK_CHILD_WORKERS=64")
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = cmd.Process.Signal(syscall.SIGTERM)
					_ = cmd.Wait()
				})
			}
			writer, err := New(context.Background(), db, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			const producers, subjects = 8, 120
			paths := []string{"/a", "/b", "/c"}
			var wg sync.WaitGroup
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(p), 11))
					for i := p; i < events; i += producers {
						s := r.IntN(subjects) // producers share subjects: enqueues of one subject race
						err := db.InTx(context.Background(), func(tx *store.Tx) error {
							return writer.Outbox().Wallet(context.Background(), tx, rc.url(paths[s%3]), Message{Type: "t",
								Subject: fmt.Sprintf("s%d", s), Body: fmt.Appendf(nil, `{"s":"s%d","i":%d}`, s, i)})
						})
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			deadline := time.Now().Add(90 * time.Second) // the lease is 10 min: a stalled head cannot make it
			for sc.delivered() < events {
				if time.Now().After(deadline) {
					var leased, open int
					_ = db.QueryRowContext(context.Background(), `SELECT COUNT(*) FILTER (WHERE lease_token <> ''), COUNT(*)
						FROM callback_deliveries WHERE status IN ('pending', 'queued')`).Scan(&leased, &open)
					t.Fatalf("%d of %d delivered; %d open deliveries, %d of them leased", sc.delivered(), events, open, leased)
				}
				time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
			}
			sc.mu.Lock()
			if len(sc.violations) > 0 {
				t.Errorf("%d violations: %v", len(sc.violations), sc.violations[:min(5, len(sc.violations))])
			}
			sc.mu.Unlock()
			wait.For(t, "an attempt recorded for every request and nothing left open", func() bool {
				var attempts, open int
				_ = db.QueryRowContext(context.Background(), `SELECT (SELECT COUNT(*) FROM callback_attempts),
					(SELECT COUNT(*) FROM callback_deliveries WHERE status <> 'delivered')`).Scan(&attempts, &open)
				return int64(attempts) == requests.Load() && open == 0
			})
			var heads, rechecks int
			_ = db.QueryRowContext(context.Background(), `SELECT (SELECT COUNT(*) FROM callback_subjects WHERE head <> 0),
				(SELECT COUNT(*) FROM callback_recheck)`).Scan(&heads, &rechecks)
			if heads != 0 || rechecks != 0 {
				t.Errorf("after everything was delivered: %d subjects still point at a head, %d rechecks left", heads, rechecks)
			}
			var byInstance int
			_ = db.QueryRowContext(context.Background(), `SELECT COUNT(DISTINCT instance) FROM callback_attempts`).Scan(&byInstance)
			if byInstance != procs {
				t.Errorf("%d of %d processes recorded attempts", byInstance, procs)
			}
			t.Logf("%d events, %d requests", events, requests.Load())
		})
	}
}
