package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/testkit"
)

// TestNewcomerFirstTenMinutes does what the README tells a new user: from a clean directory,
// with no configuration at all, `vaspgate serve`, then `curl …/.well-known/stellar.toml`.
// The only deviation: both listeners take free ports (the machine is shared), through the
// documented VASPGATE_PUBLIC_ADDR and VASPGATE_ADMIN_ADDR. It checks that
//   - stellar.toml is complete (the development asset has its issuer);
//   - stderr holds the development-secrets notice and nothing else;
//   - the only warnings logged are the development ones the README lists;
//   - every file left in the directory is ignored by the project's .gitignore.
func TestNewcomerFirstTenMinutes(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := regexp.MustCompile("(?m)^- `([^`]+)` — ").FindAllStringSubmatch(string(readme), -1)
	if len(documented) == 0 {
		t.Fatal("README lists no development warnings")
	}

	dir := t.TempDir()
	cmd := exec.Command(testkit.Binary(t), "serve")
	cmd.Dir = dir
	for _, kv := range os.Environ() { // a newcomer has no VASPGATE_* set
		if !strings.HasPrefix(kv, "VASPGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "VASPGATE_PUBLIC_ADDR=127.0.0.1:0", "VASPGATE_ADMIN_ADDR=127.0.0.1:0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	started := make(chan string, 1)
	lines := make(chan map[string]any, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"level": "UNPARSED", "msg": sc.Text()}
			}
			if m["msg"] == "vaspgate started" {
				started <- m["public"].(string)
			}
			lines <- m
		}
	}()
	var public string
	select {
	case public = <-started:
	case <-time.After(60 * time.Second):
		t.Fatalf("vaspgate did not start within 60s; stderr:\n%s", stderr.String())
	}

	resp, err := http.Get("http://" + public + "/.well-known/stellar.toml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tm struct {
		NETWORK_PASSPHRASE, SIGNING_KEY, WEB_AUTH_ENDPOINT, KYC_SERVER, TRANSFER_SERVER string
		CURRENCIES                                                                      []struct{ Code, Issuer string }
	}
	if _, err := toml.Decode(string(body), &tm); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stellar.toml: %d %v\n%s", resp.StatusCode, err, body)
	}
	if !strkey.IsValidEd25519PublicKey(tm.SIGNING_KEY) || tm.TRANSFER_SERVER == "" || tm.KYC_SERVER == "" || tm.WEB_AUTH_ENDPOINT == "" {
		t.Errorf("stellar.toml is incomplete:\n%s", body)
	}
	if len(tm.CURRENCIES) != 1 || tm.CURRENCIES[0].Code != "USDC" || !strkey.IsValidEd25519PublicKey(tm.CURRENCIES[0].Issuer) {
		t.Errorf("stellar.toml currencies %+v: the development asset needs its issuer", tm.CURRENCIES)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for m := range lines {
		level, _ := m["level"].(string)
		if level == "INFO" || level == "DEBUG" {
			continue
		}
		msg, _ := m["msg"].(string)
		ok := false
		for _, d := range documented {
			ok = ok || (level == "WARN" && strings.HasPrefix(msg, d[1]))
		}
		if !ok {
			t.Errorf("undocumented %s at start: %q", level, msg)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}

	// stderr: the development-secrets notice, and nothing else.
	notice := strings.TrimSpace(stderr.String())
	if !strings.HasPrefix(notice, "*** DEVELOPMENT SECRETS — NOT FOR PRODUCTION ***") {
		t.Errorf("stderr does not start with the development notice:\n%s", notice)
	}
	for _, l := range strings.Split(notice, "\n") {
		if strings.Contains(strings.ToLower(l), "error") || strings.Contains(strings.ToLower(l), "warning:") {
			t.Errorf("stderr line besides the notice: %q", l)
		}
	}
	for _, want := range []string{"admin token: ", "SIGNING_KEY: " + tm.SIGNING_KEY, "USDC issuer", "issuer: " + tm.CURRENCIES[0].Issuer} {
		if !strings.Contains(notice, want) {
			t.Errorf("notice lacks %q:\n%s", want, notice)
		}
	}

	// Whatever the run left in the directory, git ignores.
	gi, err := os.ReadFile("../../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitignore"), gi, 0o600); err != nil {
		t.Fatal(err)
	}
	git := exec.Command("git", "init", "-q")
	git.Dir = dir
	if out, err := git.CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	git = exec.Command("git", "status", "--porcelain", "--untracked-files=all")
	git.Dir = dir
	out, err := git.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "?? .gitignore" {
		t.Errorf("files not ignored by .gitignore:\n%s", got)
	}
}
