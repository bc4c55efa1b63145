package fault

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/testkit"
)

// long selects the long profile: more load, more rounds. The short profile runs in
// scripts/test; the long one is `go test ./test/fault -run . -fault.long -timeout 60m`.
var long = flag.Bool("fault.long", false, "run the long fault-injection profile")

// scale picks the short or long profile's number.
func scale(short, longN int) int {
	if *long {
		return longN
	}
	return short
}

const adminToken = "fault-admin-token-0123456789abcdef"

// instance is one `vaspgate serve` process. It can be killed with SIGKILL and started again
// on the same configuration and working directory (same SQLite file, same spool).
type instance struct {
	t       *testing.T
	dir     string
	env     []string
	cmd     *exec.Cmd
	exited  chan struct{}
	stderr  *bytes.Buffer
	started int
	// tmpfs, when set, is a directory mounted as a tmpfs of tmpfsSize bytes in a mount
	// namespace of the process's own (unshare -m): a tiny full disk that no other process
	// on the machine sees and that goes away with the process.
	tmpfs     string
	tmpfsSize int

	mu            sync.Mutex // the addresses change at each start; load goroutines read them
	public, admin string
}

// Admin is the admin listener's base URL of the current process.
func (in *instance) Admin() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.admin
}

func newInstance(t *testing.T, yaml string, env ...string) *instance {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vaspgate.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, dir: dir, env: env}
	t.Cleanup(func() { in.kill() })
	return in
}

// start runs the process and waits for its "vaspgate started" line (with a deadline).
func (in *instance) start() {
	t := in.t
	t.Helper()
	cmd := exec.Command(testkit.Binary(t), "serve", "--config", filepath.Join(in.dir, "vaspgate.yaml"))
	if in.tmpfs != "" {
		// sh execs vaspgate, so the process signalled below is vaspgate itself.
		cmd = exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
			fmt.Sprintf(`mount -t tmpfs -o size=%d tmpfs "$0" && exec "$@"`, in.tmpfsSize),
			in.tmpfs, testkit.Binary(t), "serve", "--config", filepath.Join(in.dir, "vaspgate.yaml"))
	}
	cmd.Dir = in.dir
	cmd.Env = append(os.Environ(), "VASPGATE_PUBLIC_ADDR=127.0.0.1:0", "VASPGATE_ADMIN_ADDR=127.0.0.1:0",
		"VASPGATE_MODE=development", "VASPGATE_ADMIN_TOKEN="+adminToken, "VASPGATE_SHUTDOWN_TIMEOUT=5s")
	cmd.Env = append(cmd.Env, in.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in.stderr = &bytes.Buffer{}
	cmd.Stderr = in.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd, in.exited = cmd, make(chan struct{})
	started := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "vaspgate started" {
				started <- m
			}
		}
		_ = cmd.Wait()
		close(in.exited)
	}()
	select {
	case m := <-started:
		in.mu.Lock()
		in.public, in.admin = "http://"+m["public"].(string), "http://"+m["admin"].(string)
		in.mu.Unlock()
		in.started++
	case <-in.exited:
		t.Fatalf("vaspgate exited at start:\n%s", in.stderr)
	case <-time.After(120 * time.Second):
		t.Fatalf("vaspgate did not start within 120s:\n%s", in.stderr)
	}
}

// kill sends SIGKILL (no shutdown, no flush) and waits for the process to be gone.
func (in *instance) kill() {
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.exited
	in.cmd = nil
}

// pg is a private PostgreSQL cluster for one test: its own data directory and port, so that
// stopping, killing or freezing it touches nobody else's database (the shared server on
// 5432 serves every other test of the machine and is never signalled).
type pg struct {
	t       *testing.T
	bin     string
	dir     string
	port    int
	runAs   []string // runuser -u postgres --, when the suite runs as root
	logPath string
}

// pgBin finds the PostgreSQL server programs (Debian's layout, newest version first).
func pgBin(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("VASPGATE_FAULT_PG_BIN"); d != "" {
		return d
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		t.Fatal("PostgreSQL server programs not found under /usr/lib/postgresql/*/bin (set VASPGATE_FAULT_PG_BIN)")
	}
	return filepath.Dir(matches[len(matches)-1])
}

func newPG(t *testing.T) *pg {
	t.Helper()
	root, err := os.MkdirTemp("", "vaspgate-fault-pg")
	if err != nil {
		t.Fatal(err)
	}
	p := &pg{t: t, bin: pgBin(t), dir: filepath.Join(root, "data"), port: freePort(t), logPath: filepath.Join(root, "postgres.log")}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the cluster belongs to the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	p.run(filepath.Join(p.bin, "initdb"), "-D", p.dir, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
	t.Cleanup(func() {
		p.resume()
		_ = p.cmd(filepath.Join(p.bin, "pg_ctl"), "-D", p.dir, "-m", "immediate", "-w", "stop").Run()
		_ = os.RemoveAll(root)
	})
	p.start()
	return p
}

func (p *pg) cmd(name string, args ...string) *exec.Cmd {
	all := append(append([]string{}, p.runAs...), append([]string{name}, args...)...)
	return exec.Command(all[0], all[1:]...)
}

func (p *pg) run(name string, args ...string) {
	p.t.Helper()
	if out, err := p.cmd(name, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", filepath.Base(name), err, out)
	}
}

// URL is the cluster's connection URL.
func (p *pg) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *pg) start() {
	p.t.Helper()
	p.run(filepath.Join(p.bin, "pg_ctl"), "-D", p.dir, "-l", p.logPath, "-w", "-t", "120",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.port, p.dir), "start")
}

// stopImmediate is `pg_ctl stop -m immediate`: every backend quits at once, no checkpoint.
func (p *pg) stopImmediate() {
	p.t.Helper()
	p.run(filepath.Join(p.bin, "pg_ctl"), "-D", p.dir, "-m", "immediate", "-w", "stop")
}

// processes are the cluster's postmaster and its children (from /proc).
func (p *pg) processes() []int {
	b, err := os.ReadFile(filepath.Join(p.dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	master, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return nil
	}
	pids := []int{master}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(master) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// kill9 sends SIGKILL to the postmaster and every backend, as a crashed host would leave it.
func (p *pg) kill9() {
	for _, pid := range p.processes() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(p.processes()) > 0 && alive(p.processes()[0]) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	_ = os.Remove(filepath.Join(p.dir, "postmaster.pid"))
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// freeze stops every process of the cluster (SIGSTOP): connections stay open and nothing
// answers, which is what a hung database looks like. resume undoes it.
func (p *pg) freeze() {
	for _, pid := range p.processes() {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
}

func (p *pg) resume() {
	for _, pid := range p.processes() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var client = &http.Client{Timeout: 30 * time.Second}

func request(ctx context.Context, method, url, bearer string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}
