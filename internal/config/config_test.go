package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsLoad(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", env(nil))
	if err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if cfg.PublicAddr != ":8000" || cfg.AdminAddr != "127.0.0.1:8001" || cfg.DatabaseURL != "sqlite:vaspgate.db" {
		t.Fatalf("defaults = %s %s %s", cfg.PublicAddr, cfg.AdminAddr, cfg.DatabaseURL)
	}
	if cfg.Stellar.LedgerMode() != config.LedgerNone {
		t.Fatalf("ledger with no Horizon = %q, want none", cfg.Stellar.LedgerMode())
	}
}

func TestEnvOverridesFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vaspgate.yaml")
	yaml := "public_addr: \":9000\"\nadmin_addr: \"127.0.0.1:9001\"\ndatabase_url: \"sqlite:file.db\"\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, env(map[string]string{"VASPGATE_DATABASE_URL": "postgres://u@h/db"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PublicAddr != ":9000" {
		t.Errorf("file value lost: public_addr = %q", cfg.PublicAddr)
	}
	if cfg.DatabaseURL != "postgres://u@h/db" {
		t.Errorf("env did not win: database_url = %q", cfg.DatabaseURL)
	}
}

// TestProblems checks that each invalid key gets its own message naming the key, what is
// wrong and an example of right.
func TestProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string // substrings of one problem line each
	}{
		{"bad public addr", map[string]string{"VASPGATE_PUBLIC_ADDR": "8000"},
			[]string{`public_addr (VASPGATE_PUBLIC_ADDR): "8000" is not host:port (example: :8000)`}},
		{"bad port", map[string]string{"VASPGATE_ADMIN_ADDR": "127.0.0.1:99999"},
			[]string{`admin_addr (VASPGATE_ADMIN_ADDR): port "99999" is not a number from 0 to 65535`}},
		{"same listeners", map[string]string{"VASPGATE_PUBLIC_ADDR": ":8000", "VASPGATE_ADMIN_ADDR": ":8000"},
			[]string{"admin_addr (VASPGATE_ADMIN_ADDR): must differ from public_addr"}},
		{"database scheme", map[string]string{"VASPGATE_DATABASE_URL": "mysql://x"},
			[]string{"database_url (VASPGATE_DATABASE_URL): must start with sqlite: or postgres:// (example: sqlite:vaspgate.db"}},
		{"empty sqlite path", map[string]string{"VASPGATE_DATABASE_URL": "sqlite:"},
			[]string{"database_url (VASPGATE_DATABASE_URL): sqlite URL has no file path"}},
		{"short admin token", map[string]string{"VASPGATE_ADMIN_TOKEN": "abc"},
			[]string{"admin_token (VASPGATE_ADMIN_TOKEN): too short (3 characters, want at least 24) (example: output of: openssl rand -hex 32)"}},
		{"key not base64", map[string]string{"VASPGATE_ENCRYPTION_KEY": "!!"},
			[]string{"encryption_key (VASPGATE_ENCRYPTION_KEY): not valid base64 (example: output of: openssl rand -base64 32)"}},
		{"key wrong size", map[string]string{"VASPGATE_ENCRYPTION_KEY": "c2hvcnQ="},
			[]string{"encryption_key (VASPGATE_ENCRYPTION_KEY): decodes to 5 bytes, want 32"}},
		{"old key", map[string]string{"VASPGATE_ENCRYPTION_OLD_KEYS": "c2hvcnQ="},
			[]string{"encryption_old_keys[0] (VASPGATE_ENCRYPTION_OLD_KEYS): decodes to 5 bytes"}},
		{"log level", map[string]string{"VASPGATE_LOG_LEVEL": "loud"},
			[]string{`log_level (VASPGATE_LOG_LEVEL): "loud" is not debug, info, warn or error (example: info)`}},
		{"shutdown timeout", map[string]string{"VASPGATE_SHUTDOWN_TIMEOUT": "soon"},
			[]string{`shutdown_timeout (VASPGATE_SHUTDOWN_TIMEOUT): not a duration: "soon" (example: 20s)`}},
		{"signing seed", map[string]string{"VASPGATE_SIGNING_SEED": "SNOTASEED"},
			[]string{"stellar.signing_seed (VASPGATE_SIGNING_SEED): not a valid S… secret seed (example: "}},
		{"several at once", map[string]string{"VASPGATE_LOG_LEVEL": "loud", "VASPGATE_DATABASE_URL": "x"},
			[]string{"database_url (VASPGATE_DATABASE_URL)", "log_level (VASPGATE_LOG_LEVEL)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load("", env(tt.env))
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("err = %v, want *config.Error", err)
			}
			if len(cerr.Problems) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(cerr.Problems), len(tt.want), err)
			}
			for i, w := range tt.want {
				if got := cerr.Problems[i].String(); !strings.Contains(got, w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got, w)
				}
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("public_adr: \":1\"\n"), 0o600)
	if _, err := config.Load(unknown, env(nil)); err == nil || !strings.Contains(err.Error(), "public_adr") {
		t.Errorf("misspelt key: err = %v, want it named", err)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.yaml"), env(nil)); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: err = %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o600)
	if _, err := config.Load(empty, env(nil)); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

// A bad public URL or signing seed is reported by Load — naming the variable and giving an
// example — even when no signing seed is configured yet (it would be generated on first
// start), so nothing touches the database before the configuration is known to be good.
func TestPublicURLAndSeedCheckedBeforeDevelopmentSecrets(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"VASPGATE_PUBLIC_URL": "localhost:8000"}, `stellar.public_url (VASPGATE_PUBLIC_URL): "localhost:8000" is not an http(s) URL with a host (example: https://`},
		{map[string]string{"VASPGATE_SIGNING_SEED": "GABC"}, "stellar.signing_seed (VASPGATE_SIGNING_SEED): not a valid S… secret seed (example: "},
	} {
		_, err := config.Load("", env(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
	}
	cfg, err := config.Load("", env(nil))
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Stellar.SigningSeed != "" || cfg.AdminToken != "" {
		t.Error("Load filled in values it should leave to the development start-up")
	}
	cfg.Stellar.PublicURL = "localhost:8000"
	if err := cfg.Check(); err == nil || !strings.Contains(err.Error(), "VASPGATE_PUBLIC_URL") {
		t.Errorf("Check: %v", err)
	}
}

// A Stellar asset is stellar:CODE:ISSUER: a non-native asset without an issuer is refused
// (stellar.toml and transfer.assets alike), SEP-6 assets must be published in stellar.toml
// with the same issuer, and the development default gets its issuer filled in.
func TestStellarAssetNeedsIssuerAndTOMLAgreesWithTransfer(t *testing.T) {
	t.Parallel()
	issuer, other := keypair.MustRandom().Address(), keypair.MustRandom().Address()
	base := func() config.Config {
		c := config.Default()
		c.Stellar.SigningSeed = keypair.MustRandom().Seed()
		c.Stellar.Ledger = config.LedgerNone
		c.AdminToken, c.EncryptionKey = strings.Repeat("t", 32), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		return c
	}
	c := base()
	if !c.NeedsDevAssetIssuer() {
		t.Fatal("the default asset does not ask for a development issuer")
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "issuer: required for USDC") {
		t.Fatalf("default asset without issuer validated: %v", err)
	}
	c.FillDevAssetIssuer(issuer)
	if c.NeedsDevAssetIssuer() || c.Stellar.TOML.Currencies[0].Issuer != issuer || c.Transfer.Assets[0].Issuer != issuer {
		t.Fatalf("FillDevAssetIssuer: %+v %+v", c.Stellar.TOML.Currencies[0], c.Transfer.Assets[0])
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("filled in: %v", err)
	}
	if config.Default().Transfer.Assets[0].Issuer != "" {
		t.Fatal("FillDevAssetIssuer changed the defaults")
	}

	for _, tt := range []struct {
		name   string
		change func(*config.Config)
		want   []string
	}{
		{"configured asset without issuer is not the development one", func(c *config.Config) {
			c.Transfer.Assets[0].Deposit.MinAmount, c.Transfer.Assets[0].Issuer = "5", ""
		}, []string{"transfer.assets[0].issuer: required for USDC", "transfer.assets[0].issuer"}},
		{"issuers differ", func(c *config.Config) { c.Transfer.Assets[0].Issuer = other }, []string{"transfer.assets[0].issuer: " + `"` + other + `" differs`}},
		{"asset missing from stellar.toml", func(c *config.Config) {
			c.Stellar.TOML.Currencies[0].Code = "EURC"
		}, []string{"transfer.assets[0]: USDC is offered for SEP-6 but is not among stellar.toml's currencies"}},
		{"native needs no issuer", func(c *config.Config) {
			c.Transfer.Assets[0].Code, c.Transfer.Assets[0].Issuer = "XLM", ""
			c.Stellar.TOML.Currencies = append(c.Stellar.TOML.Currencies, config.StellarCurrency{Code: "XLM", Status: "test", Desc: "lumens", AnchorAssetType: "crypto"})
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			c.Stellar.TOML.Currencies = slices.Clone(c.Stellar.TOML.Currencies)
			c.Transfer.Assets = slices.Clone(c.Transfer.Assets)
			c.FillDevAssetIssuer(issuer)
			tt.change(&c)
			err := c.Validate()
			var cerr *config.Error
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if !errors.As(err, &cerr) || len(cerr.Problems) != len(tt.want) {
				t.Fatalf("got %v, want %d problem(s)", err, len(tt.want))
			}
			for i, w := range tt.want {
				if got := cerr.Problems[i].String(); !strings.Contains(got, w) {
					t.Errorf("problem %d = %q, want %q", i, got, w)
				}
			}
		})
	}
}
