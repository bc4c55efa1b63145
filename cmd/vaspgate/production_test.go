package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/testkit"
)

// productionProfile is a production configuration with every safe setting: the three
// secrets, business authentication, a real asset, Horizon, the enclave token, both
// listeners on loopback. It returns the --config file and the environment.
func productionProfile(t *testing.T, dir string) (string, map[string]string) {
	t.Helper()
	issuer := keypair.MustRandom().Address()
	yaml := fmt.Sprintf(`
stellar:
  toml:
    currencies:
      - {code: USDC, issuer: %[1]s, status: live, desc: dollar, is_asset_anchored: true, anchor_asset_type: fiat}
transfer:
  assets:
    - {code: USDC, issuer: %[1]s, offchain_asset: "iso4217:USD", deposit: {enabled: true, funding_methods: [SEPA]}}
travel_rule:
  spool_dir: %[2]q
`, issuer, filepath.Join(dir, "spool"))
	path := filepath.Join(dir, "vaspgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, map[string]string{
		"VASPGATE_MODE":                         "production",
		"VASPGATE_DATABASE_URL":                 "sqlite:" + filepath.Join(dir, "vaspgate.db"),
		"VASPGATE_PUBLIC_ADDR":                  "127.0.0.1:0",
		"VASPGATE_ADMIN_ADDR":                   "127.0.0.1:0",
		"VASPGATE_SHUTDOWN_TIMEOUT":             "10s",
		"VASPGATE_ADMIN_TOKEN":                  "0123456789abcdef0123456789abcdef",
		"VASPGATE_ENCRYPTION_KEY":               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"VASPGATE_SIGNING_SEED":                 keypair.MustRandom().Seed(),
		"VASPGATE_PUBLIC_URL":                   "https://anchor.example.com",
		"VASPGATE_NETWORK_PASSPHRASE":           "Public Global Stellar Network ; September 2015",
		"VASPGATE_HORIZON_URL":                  "https://horizon.stellar.org", // read only when a wallet authenticates
		"VASPGATE_RPC_AUTH_TYPE":                "api_key",
		"VASPGATE_RPC_AUTH_SECRET":              "business-api-key-0123456789abcdef",
		"VEGA_VERIFICATION_AUTHORIZATION_TOKEN": "enclave-token-0123456789abcdef",
		// The enclave is the operator's destination: its range is opened explicitly.
		"VASPGATE_TRAVEL_RULE_ENCLAVE_URL": "http://10.20.0.5:21117",
		"VASPGATE_CALLBACK_ALLOW_CIDRS":    "10.20.0.0/24",
	}
}

// command runs the binary with only env among VASPGATE_* variables (the caller's, e.g. a
// developer's VASPGATE_MODE, must not leak in).
func command(ctx context.Context, t *testing.T, dir string, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, testkit.Binary(t), args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VASPGATE_") && !strings.HasPrefix(kv, "VEGA_") && !strings.HasPrefix(kv, "SECRET_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// TestProductionProfile runs the real binary in production (issue 11, "Proof"): with each
// unsafe setting serve refuses to start, naming the setting, before it touches the
// database; with every safe setting it starts and logs no warning at all.
func TestProductionProfile(t *testing.T) {
	t.Parallel()
	unsafe := []struct {
		name   string
		unset  []string
		set    map[string]string
		noYAML bool
		want   string
	}{
		{name: "rpc auth none", set: map[string]string{"VASPGATE_RPC_AUTH_TYPE": "none"}, want: "rpc.auth.type (VASPGATE_RPC_AUTH_TYPE)"},
		{name: "no admin token", unset: []string{"VASPGATE_ADMIN_TOKEN"}, want: "admin_token (VASPGATE_ADMIN_TOKEN)"},
		{name: "no encryption key", unset: []string{"VASPGATE_ENCRYPTION_KEY"}, want: "encryption_key (VASPGATE_ENCRYPTION_KEY)"},
		{name: "no signing seed", unset: []string{"VASPGATE_SIGNING_SEED"}, want: "stellar.signing_seed (VASPGATE_SIGNING_SEED)"},
		{name: "development asset", noYAML: true, want: "transfer.assets"},
		{name: "admin on every interface", set: map[string]string{"VASPGATE_ADMIN_ADDR": "0.0.0.0:0"}, want: "admin_addr (VASPGATE_ADMIN_ADDR)"},
		{name: "wallet callbacks into loopback", set: map[string]string{"VASPGATE_CALLBACK_WALLET_ALLOW_CIDRS": "127.0.0.0/8"}, want: "callback.wallet_allow_cidrs (VASPGATE_CALLBACK_WALLET_ALLOW_CIDRS)"},
		{name: "business URL the guard refuses", set: map[string]string{"VASPGATE_BUSINESS_EVENT_URL": "http://127.0.0.1:9/event"}, want: "callback.business.url (VASPGATE_BUSINESS_EVENT_URL)"},
		{name: "enclave on the metadata address", set: map[string]string{"VASPGATE_TRAVEL_RULE_ENCLAVE_URL": "http://169.254.169.254/"},
			want: "travel_rule.enclave.url (VASPGATE_TRAVEL_RULE_ENCLAVE_URL)"},
		{name: "KYC business server outside allow_cidrs", set: map[string]string{"VASPGATE_KYC_BACKEND": "business",
			"VASPGATE_KYC_BUSINESS_BASE_URL": "http://10.30.0.7:8081"}, want: "kyc.business.base_url (VASPGATE_KYC_BUSINESS_BASE_URL)"},
		{name: "default mode on PostgreSQL", unset: []string{"VASPGATE_MODE", "VASPGATE_ADMIN_TOKEN"},
			set: map[string]string{"VASPGATE_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}, want: "admin_token (VASPGATE_ADMIN_TOKEN)"},
	}
	for _, tt := range unsafe {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, env := productionProfile(t, dir)
			for _, k := range tt.unset {
				delete(env, k)
			}
			for k, v := range tt.set {
				env[k] = v
			}
			args := []string{"serve", "--config", path}
			if tt.noYAML {
				args = []string{"serve"}
				env["VASPGATE_TRAVEL_RULE_SPOOL_DIR"] = filepath.Join(dir, "spool")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := command(ctx, t, dir, env, args...).CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("serve did not refuse to start (err %v):\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "problem(s)") {
				t.Fatalf("output does not name %q:\n%s", tt.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "vaspgate.db")); err == nil {
				t.Error("the database was created before the configuration was refused")
			}
		})
	}

	t.Run("all safe", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path, env := productionProfile(t, dir)
		cmd := command(context.Background(), t, dir, env, "serve", "--config", path)
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
		started := make(chan struct{})
		lines := make(chan map[string]any, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) != nil {
					m = map[string]any{"level": "UNPARSED", "msg": sc.Text()}
				}
				if m["msg"] == "vaspgate started" {
					close(started)
				}
				lines <- m
			}
		}()
		select {
		case <-started:
		case <-time.After(60 * time.Second):
			t.Fatalf("vaspgate did not start within 60s; stderr:\n%s", stderr.String())
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		for m := range lines {
			if level, _ := m["level"].(string); level != "INFO" && level != "DEBUG" {
				t.Errorf("%s in a safe production start: %v", level, m)
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
		if s := strings.TrimSpace(stderr.String()); s != "" {
			t.Errorf("stderr in a safe production start (no development notice expected):\n%s", s)
		}
	})
}
