package travelrule_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/lifecycle"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
	"github.com/vaspgate/vaspgate/internal/travelrule"
)

// runService starts a service with its job engine on db (its metrics on reg, if given); stop
// (also called when the test ends) stops them. The store budget is long, so that no callback goes to the spool for
// being late: those that go there were spilled (or the database failed, which fails the
// test's counts).
func runService(t *testing.T, db *store.DB, spillMax int64, reg ...prometheus.Registerer) (svc *travelrule.Service, stop func()) {
	t.Helper()
	return runServiceIn(t, db, t.TempDir(), spillMax, reg...)
}

// runServiceIn is runService with its spool in spoolDir.
func runServiceIn(t *testing.T, db *store.DB, spoolDir string, spillMax int64, reg ...prometheus.Registerer) (svc *travelrule.Service, stop func()) {
	t.Helper()
	keys := travelrule.SpoolKeys(t)
	eng := job.New(db, job.Options{PollInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	opts := travelrule.Options{Sealer: keys, SpoolDir: spoolDir, StoreBudget: time.Minute, Logger: slog.New(slog.DiscardHandler)}
	if len(reg) > 0 {
		opts.Registerer = reg[0]
	}
	svc, err := travelrule.New(db, eng, testkit.TravelRuleOptions(opts))
	if err != nil {
		t.Fatal(err)
	}
	if spillMax > 0 {
		svc.SpillMaxForTest(spillMax)
	}
	if err := eng.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- lifecycle.Run(ctx, lifecycle.Stage{{Name: "travel rule", Run: svc.Run}, {Name: "jobs", Run: eng.Run}})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-ran; err != nil {
				t.Errorf("service stopped: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return svc, stop
}

// burst accepts copies of each of n distinct callbacks from 64 goroutines at once and
// returns the outcomes by verification uuid.
func burst(t *testing.T, svc *travelrule.Service, prefix string, n, copies int) map[string][]travelrule.Outcome {
	t.Helper()
	uuid := func(i int) string { return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, i) }
	var (
		mu   sync.Mutex
		outs = map[string][]travelrule.Outcome{}
		wg   sync.WaitGroup
		next = make(chan int)
		go_  = make(chan struct{})
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-go_
			for i := range next {
				body := fmt.Appendf(nil, `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":%q,"verificationResult":"VERIFIED","reason":"OK"}}`, uuid(i%n))
				ack, err := svc.Accept(context.Background(), body, false, int64(len(body)))
				if err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				outs[uuid(i%n)] = append(outs[uuid(i%n)], ack.Outcome)
				mu.Unlock()
			}
		}()
	}
	close(go_)
	for i := range n * copies {
		next <- i
	}
	close(next)
	wg.Wait()
	return outs
}

// checkStoredOnce requires every callback of outs stored once, its copies counted as
// duplicates, and every verification folded.
func checkStoredOnce(t *testing.T, svc *travelrule.Service, db *store.DB, outs map[string][]travelrule.Outcome) {
	t.Helper()
	wait.For(t, "spool replayed", func() bool { return !svc.SpoolPending() })
	wait.For(t, "everything folded", func() bool {
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM travel_rule_pending").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	for u, o := range outs {
		v, err := svc.Verification(context.Background(), u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if len(v.Callbacks) != 1 || v.Callbacks[0].Duplicates != int64(len(o)-1) || v.Status != "VERIFIED" || v.Version == 0 {
			t.Fatalf("%s after %d copies (%v): %d callbacks stored, status %q, version %d, %+v", u, len(o), o, len(v.Callbacks), v.Status, v.Version, v.Callbacks)
		}
	}
	var rows int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM travel_rule_inbox").Scan(&rows); err != nil || rows != len(outs) {
		t.Fatalf("%d inbox rows (err %v), want %d", rows, err, len(outs))
	}
	if n := svc.SpoolBacklogForTest(); n != 0 {
		t.Fatalf("spool backlog %d after the replay", n)
	}
}

// TestBurstSpillsToTheSpool: a burst (64 callbacks at once) is acknowledged from the spool,
// not the group commit; the replay stores every callback once, counts its copies and folds
// it, using the items kept when they were spooled (no record decoded from the file).
func TestBurstSpillsToTheSpool(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := runService(t, db, 0)
		outs := burst(t, svc, "5b111111", 100, 5)
		spilled := 0
		for _, o := range outs {
			for _, x := range o {
				switch x {
				case travelrule.OutcomeSpooled:
					spilled++
				case travelrule.OutcomeNew, travelrule.OutcomeDuplicate:
				default:
					t.Fatalf("outcome %q", x)
				}
			}
		}
		if spilled == 0 {
			t.Fatal("a burst of 64 callbacks at once spilled none to the spool")
		}
		checkStoredOnce(t, svc, db, outs)
		if n := svc.ReplayFromFileForTest(); n != 0 {
			t.Fatalf("the replay read %d spilled records back from the file", n)
		}
		t.Logf("%d of 500 acknowledged from the spool", spilled)
	})
}

// TestSpillStopsAtTheBound: with the spool's backlog at its bound (the replay held), a
// burst's callbacks wait for the database again: exactly the bound spilled, the rest
// committed with their outcome, and all stored once when the replay runs.
func TestSpillStopsAtTheBound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const bound = 5
		reg := prometheus.NewRegistry()
		svc, _ := runService(t, db, bound, reg)
		release := svc.HoldReplayForTest()
		outs := burst(t, svc, "5b222222", 60, 4)
		spilled := 0
		for _, o := range outs {
			for _, x := range o {
				if x == travelrule.OutcomeSpooled {
					spilled++
				}
			}
		}
		if spilled != bound {
			t.Fatalf("%d callbacks spilled past a bound of %d", spilled, bound)
		}
		if n := svc.SpoolBacklogForTest(); n != bound {
			t.Fatalf("spool backlog %d, want %d", n, bound)
		}
		if g := backlogGauge(t, reg); g != bound {
			t.Fatalf("vaspgate_travel_rule_spool_backlog %v, want %d", g, bound)
		}
		release()
		checkStoredOnce(t, svc, db, outs)
		if g := backlogGauge(t, reg); g != 0 {
			t.Fatalf("vaspgate_travel_rule_spool_backlog %v after the replay", g)
		}
	})
}

// backlogGauge reads vaspgate_travel_rule_spool_backlog from reg.
func backlogGauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "vaspgate_travel_rule_spool_backlog" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no vaspgate_travel_rule_spool_backlog")
	return 0
}

// TestStopStoresTheSpool: a service that stops stores what its spool holds first (a spilled
// callback is on the instance's disk only until then).
func TestStopStoresTheSpool(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, stop := runService(t, db, 0)
		release := svc.HoldReplayForTest()
		outs := burst(t, svc, "5b333333", 40, 3)
		if n := svc.SpoolBacklogForTest(); n == 0 {
			t.Fatal("nothing spilled")
		}
		go release() // the replay may be waiting for it when the service stops
		stop()
		var rows, dups int
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*), COALESCE(SUM(duplicates), 0) FROM travel_rule_inbox").Scan(&rows, &dups); err != nil {
			t.Fatal(err)
		}
		if rows != len(outs) || dups != 2*len(outs) {
			t.Fatalf("after the stop: %d inbox rows, %d duplicates; want %d and %d", rows, dups, len(outs), 2*len(outs))
		}
	})
}

// TestRunStoresASpoolLeftBehind: at Run the service stores what a previous process left in
// its spool, in the frames of the version before ("TRS1", body sealed for the spool) and of
// this one ("TRS2", body sealed for the inbox and stored as is); the folds open every body
// stored (the verifications are derived from them).
func TestRunStoresASpoolLeftBehind(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		dir, keys := t.TempDir(), travelrule.SpoolKeys(t)
		outs := map[string][]travelrule.Outcome{}
		for i := range 6 {
			u := fmt.Sprintf("5b444444-0000-4000-8000-%012d", i)
			body := fmt.Appendf(nil, `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":%q,"verificationResult":"VERIFIED","reason":"OK"}}`, u)
			r := travelrule.Record{ID: uuid.Must(uuid.NewV7()).String(), ReceivedAt: time.Now().UTC(), Body: body, Size: int64(len(body))}
			write := travelrule.SpoolV1ForTest
			if i%2 == 1 {
				write = travelrule.SpoolForTest
			}
			if err := write(dir, keys, r); err != nil {
				t.Fatal(err)
			}
			outs[u] = []travelrule.Outcome{travelrule.OutcomeSpooled}
		}
		svc, _ := runServiceIn(t, db, dir, 0)
		// SpoolPending says false until Run opened the spool: wait for the rows first.
		wait.For(t, "spool left behind stored", func() bool {
			var n int
			if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM travel_rule_inbox").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == len(outs)
		})
		checkStoredOnce(t, svc, db, outs)
		if n := svc.ReplayFromFileForTest(); n != 6 {
			t.Fatalf("%d records read back from the file, want 6", n)
		}
	})
}
