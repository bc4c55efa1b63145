package travelrulehttp_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/cmd/vaspgate/bench/travelrulebench"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// TestMain doubles as the child process of TestKill9LosesNothing: with
// VASPGATE_TRAVELRULE_CHILD_DB set it runs a receiver until it is killed.
func TestMain(m *testing.M) {
	if u := os.Getenv("VASPGATE_TRAVELRULE_CHILD_DB"); u != "" {
		runChild(u)
		return
	}
	os.Exit(m.Run())
}

func runChild(dbURL string) {
	budget, _ := time.ParseDuration(os.Getenv("VASPGATE_TRAVELRULE_CHILD_BUDGET"))
	s, err := travelrulebench.StartServer(context.Background(), travelrulebench.ServerOptions{
		DatabaseURL: dbURL, SpoolDir: os.Getenv("VASPGATE_TRAVELRULE_CHILD_SPOOL"), Token: token, StoreBudget: budget, SweepInterval: time.Second,
		// Warnings (a fold or replay that failed and will be retried) explain a failure.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready", s.URL)
	select {} // until SIGKILL
}

// startChild runs the receiver in a real process and returns its base URL.
func startChild(t *testing.T, dbURL, spool string, budget time.Duration) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VASPGATE_TRAVELRULE_CHILD_DB="+dbURL, "VASPGATE_TRAVELRULE_CHILD_SPOOL="+spool,
		"VASPGATE_TRAVELRULE_CHILD_BUDGET="+budget.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("child did not start: %q %v", line, err)
	}
	return cmd, strings.TrimSpace(strings.TrimPrefix(line, "ready "))
}

// TestKill9LosesNothing kills a real receiver process with SIGKILL right after it
// acknowledged callbacks (some committed, some only in the spool: the store budget is tiny),
// restarts it on the same database and spool, and checks that every acknowledged callback
// gets stored (the spool replayed) and processed (jobs that died with the process are picked
// up by the start-up sweep).
func TestKill9LosesNothing(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			dbURL, spool := storetest.URL(t, d), t.TempDir()
			cmd, base := startChild(t, dbURL, spool, 2*time.Millisecond)
			const killAfter = 150
			var (
				mu     sync.Mutex
				acked  []string
				killed atomic.Bool
				wg     sync.WaitGroup
				next   atomic.Int64
			)
			client := &http.Client{Timeout: 5 * time.Second}
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !killed.Load() {
						u := fmt.Sprintf("00000000-0000-4000-9000-%012d", next.Add(1))
						body := fmt.Sprintf(`{"callbackType":"ERROR_REPORT","data":{"verificationUuid":%q,"result":"ERROR","reason":"USER-CANCELED"}}`, u)
						req, _ := http.NewRequest(http.MethodPost, base+callbackPath, strings.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+token)
						resp, err := client.Do(req)
						if err != nil {
							continue // in flight when the process died: never acknowledged
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							continue
						}
						mu.Lock()
						acked = append(acked, u)
						if len(acked) == killAfter && killed.CompareAndSwap(false, true) {
							_ = cmd.Process.Kill() // SIGKILL, right after an acknowledgement
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			_ = cmd.Wait()
			mu.Lock()
			got := append([]string(nil), acked...)
			mu.Unlock()
			if len(got) < killAfter {
				t.Fatalf("only %d acknowledged", len(got))
			}

			_, base = startChild(t, dbURL, spool, 0)
			db, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			b := &bundle{db: db}
			// The restarted receiver replays its spool as it starts serving.
			missing := func() int {
				n := 0
				for _, u := range got {
					if b.count(t, "SELECT COUNT(*) FROM travel_rule_inbox WHERE verification_uuid = ?", u) != 1 {
						n++
					}
				}
				return n
			}
			wait.For(t, "every acknowledged callback stored", func() bool { return missing() == 0 })
			defer func() {
				if t.Failed() {
					t.Logf("acked %d; verifications %d; pending %d; jobs %s", len(got),
						b.count(t, "SELECT COUNT(*) FROM travel_rule_verifications WHERE version > 0"),
						b.count(t, "SELECT COUNT(*) FROM travel_rule_pending"), jobStates(t, db))
				}
			}()
			wait.For(t, "every acknowledged callback processed", func() bool {
				return b.count(t, "SELECT COUNT(*) FROM travel_rule_verifications WHERE status = 'ERROR' AND version > 0") >= len(got)
			})
			t.Logf("%d acknowledged before SIGKILL, all stored and processed after restart", len(got))
		})
	}
}

func jobStates(t *testing.T, db *store.DB) string {
	rows, err := db.QueryContext(context.Background(), "SELECT kind, state, COUNT(*) FROM river_job GROUP BY kind, state")
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, s string
		var n int
		rows.Scan(&k, &s, &n)
		out = append(out, fmt.Sprintf("%s/%s=%d", k, s, n))
	}
	return strings.Join(out, " ")
}
