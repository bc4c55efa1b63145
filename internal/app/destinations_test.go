package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/vaspgate/vaspgate/internal/config"
)

// Configured destinations the SSRF guard refuses stop a production start, naming the
// setting, and are a WARN line in development (issue 11, defect 4).
func TestConfiguredDestinationsChecked(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Callback.Business.URL = "http://10.1.2.3:8081/event"
	cfg.Clients = config.Clients{{Name: "w", Type: config.ClientNoncustodial, Domains: []string{"wallet.example"},
		CallbackURLs: config.ClientCallbackURLs{SEP6: "http://127.0.0.1:9/sep6", SEP12: "https://203.0.114.7/sep12"}}}

	cfg.Mode = config.ModeProduction
	err := checkDestinations(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "callback.business.url (VASPGATE_BUSINESS_EVENT_URL)") ||
		!strings.Contains(err.Error(), "clients[0].callback_urls.sep6") || strings.Contains(err.Error(), "sep12") {
		t.Fatalf("production: %v", err)
	}

	cfg.Mode = config.ModeDevelopment
	var logs bytes.Buffer
	if err := checkDestinations(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)), nil); err != nil {
		t.Fatalf("development: %v", err)
	}
	if n := strings.Count(logs.String(), `"level":"WARN"`); n != 2 {
		t.Errorf("development: %d warnings, want 2:\n%s", n, logs.String())
	}

	// Opening the ranges (internal scope) satisfies production.
	cfg.Mode = config.ModeProduction
	cfg.Callback.AllowCIDRs = []string{"10.1.2.0/24", "127.0.0.1"}
	if err := checkDestinations(context.Background(), cfg, slog.New(slog.DiscardHandler), nil); err != nil {
		t.Fatalf("production with allow_cidrs: %v", err)
	}
	s, err := ssrfScopes(cfg)
	if err != nil || len(s.Configured) != 2 {
		t.Fatalf("scopes %+v %v: want the two client URLs configured", s, err)
	}
}
