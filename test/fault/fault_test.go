package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// business is the business server's event endpoint on loopback: it keeps, per subject, the
// sequence numbers in the order they arrived.
type business struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]int
	n   atomic.Int64
}

func newBusiness(t *testing.T, delay time.Duration) *business {
	b := &business{got: map[string][]int{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Payload struct {
				S string `json:"s"`
				N int    `json:"n"`
			} `json:"payload"`
			Data struct {
				S string `json:"s"`
				N int    `json:"n"`
			} `json:"data"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &ev) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s, n := ev.Payload.S, ev.Payload.N
		if s == "" {
			s, n = ev.Data.S, ev.Data.N
		}
		if s == "" {
			w.WriteHeader(http.StatusOK) // vaspgate's own events: not this test's
			return
		}
		time.Sleep(delay) // a business that takes its time, so a kill lands mid-delivery
		b.mu.Lock()
		b.got[s] = append(b.got[s], n)
		b.mu.Unlock()
		b.n.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// check asserts that every published (subject, n) arrived and that each subject's arrivals
// never go backwards: a repeat of the message just delivered (at-least-once after a crash
// between the send and its record) is allowed, an older one after a newer one is not.
func (b *business) check(t *testing.T, published map[string]int) (dups int) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for s, count := range published {
		seen := map[int]bool{}
		prev := -1
		for _, n := range b.got[s] {
			if n < prev {
				t.Errorf("subject %s: %d arrived after %d (out of order): %v", s, n, prev, b.got[s])
				break
			}
			if seen[n] {
				dups++
			}
			seen[n], prev = true, n
		}
		for n := range count {
			if !seen[n] {
				t.Errorf("subject %s: acknowledged message %d never arrived", s, n)
			}
		}
	}
	return dups
}

func (b *business) complete(published map[string]int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s, count := range published {
		seen := map[int]bool{}
		for _, n := range b.got[s] {
			seen[n] = true
		}
		if len(seen) < count {
			return false
		}
	}
	return true
}

func deliveryYAML(dbURL, business string) string {
	return fmt.Sprintf(`database_url: %q
encryption_key: %q
stellar:
  ledger: none
callback:
  allow_cidrs: ["127.0.0.0/8"]
  poll_interval: 20ms
  timeout: 2s
  connect_timeout: 1s
  lease: 4s
  retry_schedule: [200ms, 500ms, 1s]
  business:
    url: %q
`, dbURL, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", business)
}

// publish records messages through the publish API, 50 per request, round-robin over
// subjects; only what a 202 acknowledged counts as published.
func publish(t *testing.T, ctx context.Context, admin string, subjects, perSubject int, published map[string]int, mu *sync.Mutex) {
	t.Helper()
	var batch []map[string]any
	flush := func() {
		if len(batch) == 0 {
			return
		}
		body, _ := json.Marshal(batch)
		code, resp, err := request(ctx, http.MethodPost, admin+"/admin/v1/messages", adminToken, body)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("publish: %d %s %v", code, resp, err)
		}
		mu.Lock()
		for _, m := range batch {
			p := m["payload"].(map[string]any)
			published[p["s"].(string)] = p["n"].(int) + 1
		}
		mu.Unlock()
		batch = batch[:0]
	}
	for n := range perSubject {
		for s := range subjects {
			subj := fmt.Sprintf("order-%d", s)
			batch = append(batch, map[string]any{"destination": "business", "subject": subj, "type": "fault.test",
				"payload": map[string]any{"s": subj, "n": n}, "idempotency_key": fmt.Sprintf("%s-%d", subj, n)})
			if len(batch) == 50 {
				flush()
			}
		}
	}
	flush()
}

// TestKillDuringDelivery: vaspgate is killed with SIGKILL while it delivers (several
// times in the long profile) and started again on the same database; every acknowledged
// message reaches the business, each subject in publication order. SQLite and PostgreSQL.
func TestKillDuringDelivery(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			biz := newBusiness(t, 3*time.Millisecond)
			var dbURL string
			if engine == "postgres" {
				dbURL = newPG(t).URL()
			} else {
				dbURL = "sqlite:" + filepath.Join(t.TempDir(), "vaspgate.db")
			}
			in := newInstance(t, deliveryYAML(dbURL, biz.srv.URL+"/events"))
			in.start()
			published, mu := map[string]int{}, &sync.Mutex{}
			subjects, per := 8, scale(40, 200)
			publish(t, t.Context(), in.admin, subjects, per, published, mu)
			total := int64(subjects * per)
			for round := range scale(2, 6) {
				// Kill once a share of the messages has arrived, while the rest are in flight.
				target := total * int64(round+1) / int64(scale(2, 6)+1)
				wait.Within(t, 3*time.Minute, "deliveries before the kill", func() bool { return biz.n.Load() >= target })
				in.kill()
				in.start()
			}
			wait.Within(t, 5*time.Minute, "every acknowledged message delivered", func() bool { return biz.complete(published) })
			dups := biz.check(t, published)
			t.Logf("%s: %d messages on %d subjects, %d kills, %d delivered again after a kill", engine, total, subjects, in.started-1, dups)
		})
	}
}

// TestTwoInstancesOneKilled: two instances share one PostgreSQL; one is killed mid-delivery
// and stays down. The survivor takes over its leases: everything arrives, in order.
func TestTwoInstancesOneKilled(t *testing.T) {
	t.Parallel()
	biz := newBusiness(t, 3*time.Millisecond)
	db := newPG(t)
	a := newInstance(t, deliveryYAML(db.URL(), biz.srv.URL+"/events"))
	b := newInstance(t, deliveryYAML(db.URL(), biz.srv.URL+"/events"))
	a.start()
	b.start()
	published, mu := map[string]int{}, &sync.Mutex{}
	subjects, per := 10, scale(40, 300)
	publish(t, t.Context(), a.admin, subjects, per/2, published, mu)
	wait.Within(t, 3*time.Minute, "deliveries before the kill", func() bool { return biz.n.Load() >= int64(subjects*per/8) })
	a.kill()
	// More messages, now through the survivor.
	more := map[string]int{}
	publish(t, t.Context(), b.admin, subjects, per, more, mu)
	wait.Within(t, 5*time.Minute, "every acknowledged message delivered by the survivor", func() bool { return biz.complete(more) })
	biz.check(t, more)
}

// enclaveBody is the fixture callback with a fresh verificationUuid.
func enclaveBody(t *testing.T, id string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "fixtures", "travel-rule", "verification_result_denied.json"))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return []byte(strings.ReplaceAll(string(b), "64ab871b-14a3-47df-9b80-368e29fe8180", id))
}

const enclaveToken = "fault-enclave-token-0123456789abcdef"

func enclaveYAML(dbURL, spool string) string {
	return fmt.Sprintf(`database_url: %q
encryption_key: %q
stellar:
  ledger: none
travel_rule:
  authorization_token: %q
  spool_dir: %q
  store_budget: 250ms
`, dbURL, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", enclaveToken, spool)
}

// enclaveLoad posts callbacks from workers until stop is closed; it returns the
// verificationUuids acknowledged with 200 {"result": true}. Connection errors (the process
// was killed) are not acknowledgements and are simply retried against the next address.
func enclaveLoad(t *testing.T, addr func() string, workers int, stop <-chan struct{}) *acked {
	t.Helper()
	a := &acked{}
	for range workers {
		a.wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := uuid.NewString()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				code, body, err := request(ctx, http.MethodPost, addr()+"/travel-rule/callback", enclaveToken, enclaveBody(t, id))
				cancel()
				if err == nil && code == http.StatusOK && strings.Contains(string(body), `"result": true`) {
					a.add(id)
				} else if err == nil {
					a.refused.Add(1)
				} else {
					time.Sleep(20 * time.Millisecond) // the process is down: back off, as the enclave does
				}
			}
		})
	}
	return a
}

type acked struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	ids     []string
	refused atomic.Int64 // answered, but not 200: not acknowledged, the enclave retries
}

func (a *acked) add(id string) {
	a.mu.Lock()
	a.ids = append(a.ids, id)
	a.mu.Unlock()
}

func (a *acked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ids)
}

// stored asserts every acknowledged verification is known to the (restarted) instance.
func stored(t *testing.T, admin string, ids []string) {
	t.Helper()
	sort.Strings(ids)
	missing := ids
	wait.Within(t, 5*time.Minute, "every acknowledged callback stored", func() bool {
		var still []string
		for _, id := range missing {
			code, _, err := request(t.Context(), http.MethodGet, admin+"/admin/v1/travel-rule/verifications/"+id, adminToken, nil)
			if err != nil || code != http.StatusOK {
				still = append(still, id)
			}
		}
		missing = still
		return len(missing) == 0
	})
}

// TestKillDuringEnclaveLoad: vaspgate is killed with SIGKILL while the enclave posts
// callbacks; after a restart every callback it acknowledged is stored (from the database
// or the fsync'd spool).
func TestKillDuringEnclaveLoad(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			var dbURL string
			if engine == "postgres" {
				dbURL = newPG(t).URL()
			} else {
				dbURL = "sqlite:" + filepath.Join(t.TempDir(), "vaspgate.db")
			}
			in := newInstance(t, enclaveYAML(dbURL, filepath.Join(t.TempDir(), "spool")))
			in.start()
			stop := make(chan struct{})
			load := enclaveLoad(t, in.Admin, 8, stop)
			for round := range scale(2, 6) {
				target := (round + 1) * scale(100, 500)
				wait.Within(t, 3*time.Minute, "acknowledgements before the kill", func() bool { return load.count() >= target })
				in.kill()
				in.start()
			}
			close(stop)
			load.wg.Wait()
			stored(t, in.Admin(), load.ids)
			t.Logf("%s: %d callbacks acknowledged across %d kills, all stored", engine, len(load.ids), in.started-1)
		})
	}
}

// TestPostgresFailuresDuringEnclaveLoad: PostgreSQL is stopped (immediate), killed (SIGKILL
// of every process) and hung (SIGSTOP) under enclave load. While it is away callbacks are
// acknowledged from the spool; once it is back they are replayed: every acknowledged
// callback ends up stored.
func TestPostgresFailuresDuringEnclaveLoad(t *testing.T) {
	t.Parallel()
	db := newPG(t)
	in := newInstance(t, enclaveYAML(db.URL(), filepath.Join(t.TempDir(), "spool")))
	in.start()
	stop := make(chan struct{})
	load := enclaveLoad(t, in.Admin, 6, stop)
	outage := time.Duration(scale(3, 15)) * time.Second
	faults := []struct {
		name        string
		down, start func()
	}{
		{"stopped", db.stopImmediate, db.start},
		{"killed", db.kill9, db.start},
		{"hung", db.freeze, db.resume},
	}
	for i, f := range faults {
		before := load.count()
		wait.Within(t, 3*time.Minute, "acknowledgements before "+f.name, func() bool { return load.count() >= before+scale(50, 300) })
		f.down()
		during := load.count()
		// Acknowledgements go on while the database is away (the spool): wait for some, with
		// a deadline, then give the outage its time.
		wait.Within(t, 2*time.Minute, "acknowledgements while PostgreSQL is "+f.name, func() bool { return load.count() >= during+scale(20, 100) })
		deadline := time.Now().Add(outage)
		wait.Within(t, outage+time.Minute, "outage", func() bool { return time.Now().After(deadline) })
		f.start()
		t.Logf("fault %d (%s): %d acknowledged while down", i+1, f.name, load.count()-during)
	}
	close(stop)
	load.wg.Wait()
	stored(t, in.Admin(), load.ids)
	t.Logf("%d callbacks acknowledged across PostgreSQL stopped, killed and hung: all stored", len(load.ids))
}

// TestFullSpoolDisk: PostgreSQL is down and the spool's filesystem (a 256 KiB tmpfs in the
// process's own mount namespace) fills up. vaspgate acknowledges what it could fsync and
// refuses the rest (the enclave retries those); once PostgreSQL is back, every acknowledged
// callback is stored. The disk guard keeps wallets' uploads from being what fills it
// (internal/limit, kychttp's TestDiskGuard).
func TestFullSpoolDisk(t *testing.T) {
	t.Parallel()
	db := newPG(t)
	spool := filepath.Join(t.TempDir(), "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	in := newInstance(t, enclaveYAML(db.URL(), spool))
	in.tmpfs, in.tmpfsSize = spool, 256<<10
	in.start()
	stop := make(chan struct{})
	load := enclaveLoad(t, in.Admin, 4, stop)
	wait.Within(t, 3*time.Minute, "acknowledgements before the outage", func() bool { return load.count() >= 20 })
	db.stopImmediate()
	before := load.refused.Load()
	wait.Within(t, 3*time.Minute, "the spool's disk full (callbacks refused)", func() bool { return load.refused.Load() >= before+int64(scale(50, 500)) })
	db.start()
	close(stop)
	load.wg.Wait()
	stored(t, in.Admin(), load.ids)
	t.Logf("%d callbacks acknowledged, %d refused while the spool's disk was full: every acknowledged one stored", len(load.ids), load.refused.Load())
}
