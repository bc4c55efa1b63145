package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

// proc is a running vaspgate serve.
type proc struct {
	cmd    *exec.Cmd
	public string
	admin  string
	lines  chan map[string]any // every JSON log line after start-up
	exited chan error
}

func startServe(t *testing.T, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(testkit.Binary(t), "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), append([]string{
		"VASPGATE_PUBLIC_ADDR=127.0.0.1:0", "VASPGATE_ADMIN_ADDR=127.0.0.1:0",
		"VASPGATE_SHUTDOWN_TIMEOUT=10s", "VASPGATE_MODE=development", // secrets generated
	}, env...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan map[string]any, 1024), exited: make(chan error, 1)}
	started := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			if m["msg"] == "vaspgate started" {
				started <- m
			}
			select {
			case p.lines <- m:
			default:
			}
		}
		close(p.lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case m := <-started:
		p.public, p.admin = m["public"].(string), m["admin"].(string)
	case err := <-p.exited:
		t.Fatalf("vaspgate exited before starting: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("vaspgate did not start within 60s")
	}
	return p
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeStartsAndStops runs the real binary on each engine: it comes up healthy and ready,
// and SIGTERM stops it cleanly (exit status 0, "vaspgate stopped" logged).
func TestServeStartsAndStops(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			p := startServe(t, "VASPGATE_DATABASE_URL="+storetest.URL(t, d))
			for _, addr := range []string{p.public, p.admin} {
				if got := status(t, "http://"+addr+"/healthz"); got != 200 {
					t.Errorf("%s/healthz = %d", addr, got)
				}
				if got := status(t, "http://"+addr+"/readyz"); got != 200 {
					t.Errorf("%s/readyz = %d", addr, got)
				}
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			var stopped bool
			for m := range p.lines {
				if m["msg"] == "vaspgate stopped" {
					stopped = true
				}
			}
			select {
			case err := <-p.exited:
				if err != nil {
					t.Fatalf("exit after SIGTERM: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("vaspgate did not exit within 30s of SIGTERM")
			}
			if !stopped {
				t.Error(`no "vaspgate stopped" log line`)
			}
		})
	}
}

// TestServeRejectsBadConfig checks that invalid configuration stops start-up with a message
// per problem and a non-zero exit.
func TestServeRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(testkit.Binary(t), "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "VASPGATE_DATABASE_URL=mysql://nope", "VASPGATE_LOG_LEVEL=chatty")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("serve with bad configuration exited 0")
	}
	for _, want := range []string{"database_url (VASPGATE_DATABASE_URL)", "log_level (VASPGATE_LOG_LEVEL)", "2 problem(s)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			url := storetest.URL(t, d)
			run := func() string {
				cmd := exec.Command(testkit.Binary(t), "migrate")
				cmd.Dir = t.TempDir()
				cmd.Env = append(os.Environ(), "VASPGATE_DATABASE_URL="+url)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("migrate: %v\n%s", err, out)
				}
				return string(out)
			}
			if first := run(); !strings.Contains(first, "applied 00001_meta.sql") {
				t.Fatalf("first migrate output:\n%s", first)
			}
			if again := run(); !strings.Contains(again, ": 0 vaspgate migration(s), 0 job engine migration(s) applied") {
				t.Fatalf("second migrate output:\n%s", again)
			}
		})
	}
}

func TestVersionAndKeys(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(testkit.Binary(t), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "vaspgate ") {
		t.Fatalf("version: %v %s", err, out)
	}
	out, err = exec.Command(testkit.Binary(t), "keys", "generate").CombinedOutput()
	if err != nil {
		t.Fatalf("keys generate: %v %s", err, out)
	}
	var pub, seed string
	for _, line := range strings.Split(string(out), "\n") {
		if _, v, ok := strings.Cut(line, "): "); ok {
			if strings.HasPrefix(line, "SIGNING_KEY") {
				pub = v
			} else {
				seed = v
			}
		}
	}
	kp, err := keypair.ParseFull(seed)
	if err != nil || kp.Address() != pub {
		t.Fatalf("seed %q does not match key %q: %v", seed, pub, err)
	}
	if err := exec.Command(testkit.Binary(t), "nonsense").Run(); err == nil {
		t.Fatal("unknown command exited 0")
	}
}

// Asking a command for help prints its usage on stdout, nothing else, and exits 0.
func TestHelpExitsZeroAndPrintsOnlyUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve", "--help"}, {"serve", "-h"}, {"migrate", "--help"}, {"migrate", "-h"}, {"help"}} {
		cmd := exec.Command(testkit.Binary(t), args...)
		cmd.Dir = t.TempDir()
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("%v: %v (stderr %q)", args, err, stderr.String())
		}
		if !strings.HasPrefix(stdout.String(), "Usage:") && !strings.Contains(stdout.String(), "Usage:\n") {
			t.Errorf("%v: stdout %q", args, stdout.String())
		}
		if stderr.Len() != 0 {
			t.Errorf("%v: stderr %q, want nothing", args, stderr.String())
		}
		if entries, _ := os.ReadDir(cmd.Dir); len(entries) != 0 {
			t.Errorf("%v: left %d file(s) in the working directory", args, len(entries))
		}
	}
	// A flag that does not exist is still an error.
	cmd := exec.Command(testkit.Binary(t), "serve", "--bogus")
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "bogus") {
		t.Errorf("serve --bogus: %v %s", err, out)
	}
}
