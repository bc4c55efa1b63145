package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
)

// productionFile writes a production configuration with every secret set and a real
// asset, the starting point the unsafe settings are added to.
func productionFile(t *testing.T) (string, map[string]string) {
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
`, issuer)
	path := filepath.Join(t.TempDir(), "vaspgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, map[string]string{
		"VASPGATE_DATABASE_URL":    "postgres://vaspgate@db.internal:5432/vaspgate",
		"VASPGATE_ADMIN_TOKEN":     "0123456789abcdef0123456789abcdef",
		"VASPGATE_ENCRYPTION_KEY":  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"VASPGATE_SIGNING_SEED":    keypair.MustRandom().Seed(),
		"VASPGATE_RPC_AUTH_TYPE":   "api_key",
		"VASPGATE_RPC_AUTH_SECRET": "business-api-key-0123456789",
		"VASPGATE_PUBLIC_URL":      "https://anchor.example.com",
	}
}

// The mode is development only while the database is the embedded default; any other
// database makes it production unless development is chosen explicitly.
func TestDefaultMode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{nil, config.ModeDevelopment},
		{map[string]string{"VASPGATE_DATABASE_URL": "postgres://u@h/db"}, config.ModeProduction},
		{map[string]string{"VASPGATE_DATABASE_URL": "sqlite:/var/lib/vaspgate/vaspgate.db"}, config.ModeProduction},
		{map[string]string{"VASPGATE_DATABASE_URL": "postgres://u@h/db", "VASPGATE_MODE": "development"}, config.ModeDevelopment},
		{map[string]string{"VASPGATE_MODE": "production"}, config.ModeProduction},
	} {
		cfg, err := config.Load("", env(tt.env))
		if err != nil {
			t.Fatalf("%v: %v", tt.env, err)
		}
		if cfg.Mode != tt.want {
			t.Errorf("%v: mode %q, want %q", tt.env, cfg.Mode, tt.want)
		}
	}
	if _, err := config.Load("", env(map[string]string{"VASPGATE_MODE": "staging"})); err == nil || !strings.Contains(err.Error(), "mode (VASPGATE_MODE)") {
		t.Errorf("unknown mode: %v", err)
	}
}

// Production refuses each unsafe setting with one problem naming it (issue 11, defects 1
// and 5); development accepts them all; with every safe setting production has nothing to
// say.
func TestProductionRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		unset []string
		set   map[string]string
		want  string
	}{
		{name: "rpc auth none", set: map[string]string{"VASPGATE_RPC_AUTH_TYPE": "none"}, want: "rpc.auth.type (VASPGATE_RPC_AUTH_TYPE)"},
		{name: "rpc auth default", unset: []string{"VASPGATE_RPC_AUTH_TYPE", "VASPGATE_RPC_AUTH_SECRET"}, want: "rpc.auth.type (VASPGATE_RPC_AUTH_TYPE)"},
		{name: "generated admin token", unset: []string{"VASPGATE_ADMIN_TOKEN"}, want: "admin_token (VASPGATE_ADMIN_TOKEN): required in production"},
		{name: "generated encryption key", unset: []string{"VASPGATE_ENCRYPTION_KEY"}, want: "encryption_key (VASPGATE_ENCRYPTION_KEY): required in production"},
		{name: "generated signing seed", unset: []string{"VASPGATE_SIGNING_SEED"}, want: "stellar.signing_seed (VASPGATE_SIGNING_SEED): required in production"},
		{name: "admin on all interfaces", set: map[string]string{"VASPGATE_ADMIN_ADDR": ":8001"}, want: "admin_addr (VASPGATE_ADMIN_ADDR)"},
		{name: "admin on a private address", set: map[string]string{"VASPGATE_ADMIN_ADDR": "10.0.0.5:8001"}, want: "admin.allow_plaintext"},
		{name: "wallet callbacks into private ranges", set: map[string]string{"VASPGATE_CALLBACK_WALLET_ALLOW_CIDRS": "127.0.0.0/8"}, want: "callback.wallet_allow_cidrs (VASPGATE_CALLBACK_WALLET_ALLOW_CIDRS): development only"},
		{name: "admin TLS half set", set: map[string]string{"VASPGATE_ADMIN_TLS_CERT_FILE": "/etc/admin.pem"}, want: "admin.tls_cert_file (VASPGATE_ADMIN_TLS_CERT_FILE): set together with admin.tls_key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, e := productionFile(t)
			for _, k := range tt.unset {
				delete(e, k)
			}
			for k, v := range tt.set {
				e[k] = v
			}
			cfg, err := config.Load(path, env(e))
			if err == nil {
				err = cfg.Check()
			}
			var cerr *config.Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || !strings.Contains(cerr.Problems[0].String(), tt.want) {
				t.Fatalf("production: %v, want exactly one problem containing %q", err, tt.want)
			}
			if strings.HasPrefix(tt.name, "admin TLS") {
				return // a configuration error in every mode
			}
			e["VASPGATE_MODE"] = "development"
			cfg, err = config.Load(path, env(e))
			if err == nil {
				err = cfg.Check()
			}
			if err != nil {
				t.Errorf("development: %v, want it accepted", err)
			}
		})
	}

	t.Run("development asset", func(t *testing.T) {
		t.Parallel()
		_, e := productionFile(t)
		cfg, err := config.Load("", env(e)) // no file: the development USDC without issuer
		if err == nil {
			err = cfg.Check()
		}
		if err == nil || !strings.Contains(err.Error(), "transfer.assets: the development asset") {
			t.Fatalf("production with the development asset: %v", err)
		}
	})

	t.Run("all safe", func(t *testing.T) {
		t.Parallel()
		path, e := productionFile(t)
		for _, extra := range []map[string]string{
			nil,
			{"VASPGATE_ADMIN_ADDR": "10.0.0.5:8001", "VASPGATE_ADMIN_TLS_CERT_FILE": "/etc/a.pem", "VASPGATE_ADMIN_TLS_KEY_FILE": "/etc/a.key"},
			{"VASPGATE_ADMIN_ADDR": "10.0.0.5:8001", "VASPGATE_ADMIN_ALLOW_PLAINTEXT": "true"},
			{"VASPGATE_ADMIN_ADDR": "[::1]:8001"},
			{"VASPGATE_ADMIN_ADDR": "localhost:8001"},
		} {
			for k, v := range extra {
				e[k] = v
			}
			cfg, err := config.Load(path, env(e))
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Production() {
				t.Fatalf("mode %q, want production", cfg.Mode)
			}
			if err := cfg.Check(); err != nil {
				t.Errorf("%v: %v", extra, err)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("%v: Validate: %v", extra, err)
			}
		}
	})
}

// An enclave path that is one of the admin listener's own routes is refused by validation
// (it used to panic at start: issue 11, defect 10).
func TestEnclavePathsCollidingWithRoutes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ variable, path string }{
		{"VEGA_VERIFICATION_CALLBACK_API_PATH", "/rpc"},
		{"VEGA_VERIFICATION_CALLBACK_API_PATH", "/"},
		{"VEGA_VERIFICATION_API_PATH", "/metrics"},
		{"VEGA_VERIFICATION_ACCOUNT_API_PATH", "/readyz"},
		{"VEGA_VERIFICATION_TRANSACTION_API_PATH", "/transactions"},
		{"VEGA_VERIFICATION_CALLBACK_API_PATH", "/transactions/x"},
		{"VEGA_VERIFICATION_CALLBACK_API_PATH", "/console/travel"},
		{"VEGA_VERIFICATION_CALLBACK_API_PATH", "/health"},
	} {
		_, err := config.Load("", env(map[string]string{tt.variable: tt.path}))
		if err == nil || !strings.Contains(err.Error(), "collides with the admin listener's route") {
			t.Errorf("%s=%s: %v, want a collision", tt.variable, tt.path, err)
		}
	}
	if _, err := config.Load("", env(map[string]string{"VEGA_VERIFICATION_CALLBACK_API_PATH": "/vasp/callback"})); err != nil {
		t.Errorf("a free path: %v", err)
	}
}

func TestLoopbackAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8001": true, "127.9.9.9:1": true, "[::1]:8001": true, "localhost:8001": true, "LOCALHOST:1": true,
		":8001": false, "0.0.0.0:8001": false, "10.0.0.5:8001": false, "[::]:8001": false, "admin.internal:8001": false, "garbage": false,
	} {
		if got := config.LoopbackAddr(addr); got != want {
			t.Errorf("LoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
