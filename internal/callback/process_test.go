package callback

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// TestMain doubles as the child process of TestKill9LosesNothing: with
// VASPGATE_CALLBACK_CHILD_DB set it runs one delivery engine until it is killed.
func TestMain(m *testing.M) {
	if u := os.Getenv("VASPGATE_CALLBACK_CHILD_DB"); u != "" {
		runChild(u)
		return
	}
	os.Exit(m.Run())
}

func runChild(dbURL string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg := testConfig()
	cfg.Timeout, cfg.Lease = 3*time.Second, 4*time.Second
	if l, err := time.ParseDuration(os.Getenv("VASPGATE_CALLBACK_CHILD_LEASE")); err == nil {
		cfg.Lease = l
	}
	if os.Getenv("VASPGATE_CALLBACK_CHILD_WORKERS") != "" {
		cfg.Workers = 64
	}
	name := os.Getenv("VASPGATE_CALLBACK_CHILD_NAME")
	if name == "" {
		name = "child"
	}
	if os.Getenv("VASPGATE_CALLBACK_CHILD_FAST_RETRY") != "" {
		cfg.RetrySchedule = []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
			50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}
		cfg.CircuitThreshold = 10000
	}
	eng, err := New(ctx, db, cfg, WithInstance(name))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_ = eng.Run(ctx)
}

// orderChecker is a receiver's view of ordering: per subject (path + subject) the events
// must arrive with n = last acknowledged + 1 (or, after a lost acknowledgement, the last one
// again), and never two requests of one subject at once.
type orderChecker struct {
	mu         sync.Mutex
	acked      map[string]int
	inflight   map[string]int
	ackedTimes map[string]int // event id -> times acknowledged
	violations []string
}

func newOrderChecker() *orderChecker {
	return &orderChecker{acked: map[string]int{}, inflight: map[string]int{}, ackedTimes: map[string]int{}}
}

type seqBody struct {
	S string `json:"s"`
	N int    `json:"n"`
}

// begin checks an arriving request; end records the answer.
func (o *orderChecker) begin(r received) (key string, n int) {
	var m seqBody
	_ = json.Unmarshal(r.Body, &m)
	key = r.Path + "|" + m.S
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.inflight[key]++; o.inflight[key] > 1 {
		o.violations = append(o.violations, "two requests at once for "+key)
	}
	if m.N != o.acked[key]+1 && m.N != o.acked[key] {
		o.violations = append(o.violations, fmt.Sprintf("%s: got %d after %d", key, m.N, o.acked[key]))
	}
	return key, m.N
}

func (o *orderChecker) end(key string, n int, ok bool, eventID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inflight[key]--
	if ok {
		o.acked[key] = max(o.acked[key], n)
		o.ackedTimes[eventID]++
	}
}

func (o *orderChecker) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := 0
	for _, v := range o.acked {
		t += v
	}
	return t
}

func enqueueSeq(t *testing.T, db *store.DB, ob *Outbox, u string, subject string, n int) string {
	t.Helper()
	id := fmt.Sprintf("%s-%s-%d", u, subject, n)
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return ob.Wallet(context.Background(), tx, u, Message{EventID: id, Type: "t", Subject: subject,
			Body: fmt.Appendf(nil, `{"s":%q,"n":%d}`, subject, n)})
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestKill9LosesNothing(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			dbURL := storetest.URL(t, d)
			db, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			oc := newOrderChecker()
			rc := newReceiver(t)
			hung := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			rc.setRespond(func(r received, _ http.Header) int {
				key, n := oc.begin(r)
				if n == 3 && key == "/w|s0" {
					first := false
					once.Do(func() { first = true; close(hung) })
					if first {
						<-release // the child is killed while this request is in flight
						oc.end(key, n, false, "")
						return 200
					}
				}
				oc.end(key, n, true, r.Header.Get("Vaspgate-Event-Id"))
				return 200
			})
			t.Cleanup(func() {
				select {
				case <-release:
				default:
					close(release)
				}
			})
			// The parent only records (no Run): the child delivers.
			writer, err := New(context.Background(), db, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			const subjects, per = 4, 6
			for n := 1; n <= per; n++ {
				for s := range subjects {
					enqueueSeq(t, db, writer.Outbox(), rc.url("/w"), fmt.Sprintf("s%d", s), n)
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "VASPGATE_CALLBACK_CHILD_DB="+dbURL)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-hung:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("the child never reached the third event of s0")
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			close(release)
			// A new instance takes over once the dead one's lease expires.
			cfg := testConfig()
			start(t, db, cfg, WithInstance("survivor"))
			wait.For(t, "every event acknowledged", func() bool { return oc.total() == subjects*per })
			oc.mu.Lock()
			defer oc.mu.Unlock()
			if len(oc.violations) > 0 {
				t.Fatalf("violations: %v", oc.violations)
			}
			oc.mu.Unlock()
			wait.For(t, "every delivery recorded as delivered", func() bool {
				var left int
				_ = db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM callback_deliveries WHERE status <> 'delivered'`).Scan(&left)
				return left == 0
			})
			oc.mu.Lock()
		})
	}
}

// TestThreeInstancesOnePostgres: three engines, each with its own pool, share one database;
// everything is delivered, each subject in order, never by two instances at once.
func TestThreeInstancesOnePostgres(t *testing.T) {
	t.Parallel()
	dbURL := storetest.URL(t, store.Postgres)
	var dbs []*store.DB
	for range 3 {
		db, err := store.Open(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	if _, err := dbs[0].Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	oc := newOrderChecker()
	rc := newReceiver(t)
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(3, 4))
	rc.setRespond(func(r received, _ http.Header) int {
		key, n := oc.begin(r)
		rmu.Lock()
		fail := rng.IntN(10) == 0
		rmu.Unlock()
		if fail {
			oc.end(key, n, false, "")
			return 503
		}
		oc.end(key, n, true, r.Header.Get("Vaspgate-Event-Id"))
		return 200
	})
	cfg := testConfig()
	cfg.RetrySchedule = []time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
		50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}
	cfg.CircuitThreshold = 10000
	var engines []*Engine
	for i, db := range dbs {
		engines = append(engines, start(t, db, cfg, WithInstance(fmt.Sprintf("i%d", i))))
	}
	const subjects, per = 30, 10
	paths := []string{"/a", "/b", "/c"}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; n <= per; n++ {
				for s := w; s < subjects; s += 3 {
					enqueueSeq(t, dbs[w], engines[w].Outbox(), rc.url(paths[s%3]), fmt.Sprintf("s%d", s), n)
				}
			}
		}()
	}
	wg.Wait()
	wait.For(t, "everything acknowledged", func() bool { return oc.total() == subjects*per })
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(oc.violations) > 0 {
		t.Fatalf("%d violations: %v", len(oc.violations), oc.violations[:min(5, len(oc.violations))])
	}
	for id, k := range oc.ackedTimes {
		if k != 1 {
			t.Errorf("%s acknowledged %d times", id, k)
		}
	}
	var byInstance []string
	rows, err := dbs[0].QueryContext(context.Background(), `SELECT instance, COUNT(*) FROM callback_attempts GROUP BY instance ORDER BY instance`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var in string
		var n int
		_ = rows.Scan(&in, &n)
		byInstance = append(byInstance, fmt.Sprintf("%s=%d", in, n))
	}
	if len(byInstance) < 2 {
		t.Fatalf("attempts by instance %v: the work was not shared", byInstance)
	}
	t.Logf("attempts by instance: %v", byInstance)
}

// TestThreeProcessesOnePostgres: three real vaspgate engine processes share one database
// while the test records; everything arrives, each subject in order, never two requests of
// one subject at once, and every process did part of the work.
func TestThreeProcessesOnePostgres(t *testing.T) {
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
	oc := newOrderChecker()
	rc := newReceiver(t)
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(5, 6))
	rc.setRespond(func(r received, _ http.Header) int {
		key, n := oc.begin(r)
		rmu.Lock()
		fail := rng.IntN(10) == 0
		rmu.Unlock()
		oc.end(key, n, !fail, r.Header.Get("Vaspgate-Event-Id"))
		if fail {
			return 503
		}
		return 200
	})
	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "VASPGATE_CALLBACK_CHILD_DB="+dbURL,
			fmt.Sprintf("VASPGATE_CALLBACK_CHILD_NAME=p%d", i), "VASPGATE_CALLBACK_CHILD_FAST_RETRY=1")
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
	const subjects, per = 30, 10
	paths := []string{"/a", "/b", "/c"}
	for n := 1; n <= per; n++ {
		for s := range subjects {
			enqueueSeq(t, db, writer.Outbox(), rc.url(paths[s%3]), fmt.Sprintf("s%d", s), n)
		}
	}
	wait.For(t, "everything acknowledged", func() bool { return oc.total() == subjects*per })
	oc.mu.Lock()
	if len(oc.violations) > 0 {
		t.Fatalf("%d violations: %v", len(oc.violations), oc.violations[:min(5, len(oc.violations))])
	}
	for id, k := range oc.ackedTimes {
		if k != 1 {
			t.Errorf("%s acknowledged %d times", id, k)
		}
	}
	oc.mu.Unlock()
	wait.For(t, "every process recorded attempts", func() bool {
		var n int
		_ = db.QueryRowContext(context.Background(), `SELECT COUNT(DISTINCT instance) FROM callback_attempts`).Scan(&n)
		return n == 3
	})
}
