package cpucap

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A child started by TestQuotaLimitsAProcess spins until it has used spinEnv's duration of
// CPU, as a busy engine would: CPU, not wall time, so that a loaded machine only makes it
// take longer, which the test's bound allows.
const spinEnv = "CPUCAP_TEST_SPIN"

func TestMain(m *testing.M) {
	if d, err := time.ParseDuration(os.Getenv(spinEnv)); err == nil {
		for cpuTime() < d {
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cpuTime is the CPU this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestQuotaLimitsAProcess: a process that needs 300 ms of CPU takes about 1.5 s under a
// 0.2-core group (0.3 s on an idle core without it), and the group counts the periods it
// waited.
func TestQuotaLimitsAProcess(t *testing.T) {
	g, err := New(fmt.Sprintf("vaspgate-cpucap-test-%d", os.Getpid()), 0.2)
	if err != nil {
		t.Fatalf("the load tools' instance limits need a writable cgroup cpu controller (run as root): %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), spinEnv+"=300ms")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child may run a little before it is moved: the quota covers what follows.
	if err := g.Add(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	st, err := g.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	// 1 s rather than 1.5 s leaves room for what the child ran before Add and for the
	// first period's quota, which may start anywhere in the spin; without the quota the
	// child would have to get less than a third of a core to take as long.
	if wall < time.Second || st.Throttled == 0 || st.Periods < st.Throttled {
		t.Fatalf("300 ms of CPU took %v, %+v: the quota did not hold", wall, st)
	}
	t.Logf("300 ms of CPU in %v, %d of %d periods throttled", wall, st.Throttled, st.Periods)
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cores float64
	}{{"zero", 0}, {"negative", -1}, {"below the smallest quota", 0.05}, {"a/path", 1}, {"..", 1}, {"", 1}} {
		t.Run(fmt.Sprintf("%q %v", tc.name, tc.cores), func(t *testing.T) {
			name := tc.name
			if g, err := New(name, tc.cores); err == nil {
				_ = g.Close()
				t.Fatalf("New(%q, %v) made a group", name, tc.cores)
			}
		})
	}
}
