package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
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

// The KYC business server and the VASP's own enclave are configured destinations too: a
// production start refuses one the internal scope's guard refuses, naming the setting; they
// are checked only when in use, and dialled through the same guard.
func TestEnclaveAndKYCBusinessURLsChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want string // the setting named; "" means start
	}{
		{"enclave on the metadata address", func(c *config.Config) {
			c.TravelRule.AuthorizationToken = "enclave-token-0123456789abcdef"
			c.TravelRule.Enclave.URL = "http://169.254.169.254/latest"
		}, "travel_rule.enclave.url (VASPGATE_TRAVEL_RULE_ENCLAVE_URL)"},
		{"enclave on loopback (the default), not opened", func(c *config.Config) {
			c.TravelRule.AuthorizationToken = "enclave-token-0123456789abcdef"
			c.TravelRule.Enclave.URL = "http://127.0.0.1:21117"
		}, "travel_rule.enclave.url (VASPGATE_TRAVEL_RULE_ENCLAVE_URL)"},
		{"enclave on loopback, opened", func(c *config.Config) {
			c.TravelRule.AuthorizationToken = "enclave-token-0123456789abcdef"
			c.TravelRule.Enclave.URL = "http://127.0.0.1:21117"
			c.Callback.AllowCIDRs = []string{"127.0.0.1/32"}
		}, ""},
		{"enclave not in use", func(c *config.Config) { c.TravelRule.Enclave.URL = "http://169.254.169.254/" }, ""},
		{"KYC business server on a private address", func(c *config.Config) {
			c.KYC.Backend = config.KYCBusiness
			c.KYC.Business.BaseURL = "http://10.9.9.9:8081"
		}, "kyc.business.base_url (VASPGATE_KYC_BUSINESS_BASE_URL)"},
		{"KYC business server opened", func(c *config.Config) {
			c.KYC.Backend = config.KYCBusiness
			c.KYC.Business.BaseURL = "http://10.9.9.9:8081"
			c.Callback.AllowCIDRs = []string{"10.9.9.0/24"}
		}, ""},
		{"builtin KYC ignores base_url", func(c *config.Config) { c.KYC.Business.BaseURL = "http://10.9.9.9:8081" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.Mode = config.ModeProduction
			tc.edit(&cfg)
			err := checkDestinations(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// The client of a configured destination dials through the internal scope's guard: loopback
// is refused until callback.allow_cidrs opens it.
func TestInternalClientGuarded(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	cfg := config.Default()
	for _, allow := range [][]string{nil, {"127.0.0.0/8"}} {
		cfg.Callback.AllowCIDRs = allow
		h, err := internalClient(cfg, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if refused := errors.Is(err, callback.ErrForbiddenAddress); refused != (allow == nil) {
			t.Errorf("allow_cidrs %v: %v", allow, err)
		}
	}
}
