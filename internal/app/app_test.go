package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/config"
)

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// A bad public URL is reported before anything touches the database or the disk: the
// SQLite file is never created and no development secret is generated.
func TestConfigurationCheckedBeforeDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DatabaseURL = "sqlite:" + filepath.Join(dir, "vaspgate.db")
	cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Stellar.Ledger = config.LedgerNone
	cfg.Stellar.PublicURL = "localhost:8000"
	var notice bytes.Buffer
	_, err := New(context.Background(), cfg, quiet(), &notice)
	if err == nil || !strings.Contains(err.Error(), "VASPGATE_PUBLIC_URL") || !strings.Contains(err.Error(), "example:") {
		t.Fatalf("New = %v, want a problem naming VASPGATE_PUBLIC_URL with an example", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("New left %d file(s) behind: %v", len(entries), entries)
	}
	if notice.Len() != 0 {
		t.Errorf("development secrets were announced: %s", notice.String())
	}
}

// The development asset gets an issuer generated once and kept in the database: stellar.toml
// and SEP-6 both use it, and a restart keeps it; the admin token is printed only once.
func TestDevAssetIssuerGeneratedAndKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var notices []string
	start := func() *App {
		cfg := config.Default()
		cfg.DatabaseURL = "sqlite:" + filepath.Join(dir, "vaspgate.db")
		cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Stellar.Ledger = config.LedgerNone
		cfg.TravelRule.SpoolDir = filepath.Join(dir, "spool")
		var notice bytes.Buffer
		a, err := New(context.Background(), cfg, quiet(), &notice)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(notice.String(), "USDC issuer") {
			t.Errorf("notice does not mention the development issuer:\n%s", notice.String())
		}
		notices = append(notices, notice.String())
		return a
	}
	// stop runs a with its context already cancelled: it starts, then shuts down at once,
	// closing the database.
	stop := func(a *App) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := a.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}
	a := start()
	issuer := a.Config.Transfer.Assets[0].Issuer
	if !strkey.IsValidEd25519PublicKey(issuer) || a.Config.Stellar.TOML.Currencies[0].Issuer != issuer {
		t.Fatalf("issuer %q, stellar.toml %q", issuer, a.Config.Stellar.TOML.Currencies[0].Issuer)
	}
	if !strings.Contains(string(a.Auth.TOML()), `issuer = "`+issuer+`"`) {
		t.Errorf("stellar.toml lacks the issuer:\n%s", a.Auth.TOML())
	}
	stop(a)
	b := start()
	defer stop(b)
	if b.Config.Transfer.Assets[0].Issuer != issuer {
		t.Errorf("after a restart the issuer is %q, was %q", b.Config.Transfer.Assets[0].Issuer, issuer)
	}
	// The admin token is printed when generated, never again (issue 11, defect 5).
	if tok := a.Config.AdminToken; !strings.Contains(notices[0], "admin token: "+tok) || strings.Contains(notices[1], tok) {
		t.Errorf("the admin token must be printed on the first start only:\nfirst:\n%s\nsecond:\n%s", notices[0], notices[1])
	}
}

// The travel-rule spool lives in a directory named after the SQLite file, never loose in
// the working directory.
func TestSpoolBesideSQLiteFileNotInWorkingDirectory(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"sqlite:vaspgate.db":             "vaspgate.db-spool",
		"sqlite:/var/lib/vg/vaspgate.db": "/var/lib/vg/vaspgate.db-spool",
		"sqlite:///data/x.db?_pragma=1":  "/data/x.db-spool",
		"postgres://u@h/db":              "vaspgate-spool",
	} {
		if got := spoolDir(url); got != want {
			t.Errorf("spoolDir(%q) = %q, want %q", url, got, want)
		}
	}
}

// An enclave path on one of the admin listener's routes is an error naming the setting,
// never a panic at start (issue 11, defect 10): refused by the configuration check, and by
// the route check behind it when a configuration skips validation.
func TestEnclavePathCollisionRefused(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/rpc", "/transactions", "/console/x"} {
		dir := t.TempDir()
		cfg := config.Default()
		cfg.DatabaseURL = "sqlite:" + filepath.Join(dir, "vaspgate.db")
		cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Stellar.Ledger = config.LedgerNone
		cfg.TravelRule.SpoolDir = filepath.Join(dir, "spool")
		cfg.TravelRule.AuthorizationToken = "enclave-token-0123456789"
		cfg.TravelRule.CallbackPath = path
		_, err := New(context.Background(), cfg, quiet(), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "travel_rule.callback_path") {
			t.Errorf("callback_path %s: New = %v, want an error naming travel_rule.callback_path", path, err)
		}
	}
}

func TestFreeAdminPaths(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rpc", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/console/", func(http.ResponseWriter, *http.Request) {})
	for path, collides := range map[string]bool{"/rpc": true, "/console/a": true, "/travel-rule/callback": false} {
		err := freeAdminPaths(mux, map[string]string{"travel_rule.callback_path": path})
		if (err != nil) != collides || (err != nil && !strings.Contains(err.Error(), "travel_rule.callback_path")) {
			t.Errorf("%s: %v, want collision %v", path, err, collides)
		}
	}
}
