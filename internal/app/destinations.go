package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/config"
)

// ssrfScopes builds the SSRF scopes from the configuration: callback.allow_cidrs for the
// business endpoint and the clients' configured callback URLs, callback.wallet_allow_cidrs
// for what wallets register.
func ssrfScopes(cfg config.Config) (callback.Scopes, error) {
	internal, err := callback.ParseAllow(cfg.Callback.AllowCIDRs)
	if err != nil {
		return callback.Scopes{}, fmt.Errorf("callback.allow_cidrs: %w", err)
	}
	wallet, err := callback.ParseAllow(cfg.Callback.WalletAllowCIDRs)
	if err != nil {
		return callback.Scopes{}, fmt.Errorf("callback.wallet_allow_cidrs: %w", err)
	}
	s := callback.Scopes{Internal: callback.Guard{Allow: internal}, Wallet: callback.Guard{Allow: wallet}}
	for _, d := range configuredDestinations(cfg) {
		if strings.HasPrefix(d.key, "clients[") {
			s.Configured = append(s.Configured, d.url)
		}
	}
	return s, nil
}

type destination struct{ key, url string }

// configuredDestinations are the URLs the operator configured vaspgate to call: the
// business's event endpoint, the publish API's destinations, the clients' callback URLs, and — when in use — the KYC
// business server and the VASP's own Travel Rule enclave. All of them are the internal
// scope's (callback.allow_cidrs): checked at start and dialled through its guard.
func configuredDestinations(cfg config.Config) []destination {
	var out []destination
	if u := cfg.Callback.Business.URL; u != "" {
		out = append(out, destination{"callback.business.url (VASPGATE_BUSINESS_EVENT_URL)", u})
	}
	for i, d := range cfg.Callback.Destinations {
		out = append(out, destination{fmt.Sprintf("callback.destinations[%d].url", i), d.URL})
	}
	if cfg.KYC.Backend == config.KYCBusiness && cfg.KYC.Business.BaseURL != "" {
		out = append(out, destination{"kyc.business.base_url (VASPGATE_KYC_BUSINESS_BASE_URL)", cfg.KYC.Business.BaseURL})
	}
	if (cfg.TravelRule.Originating() || cfg.TravelRule.Enabled()) && cfg.TravelRule.Enclave.URL != "" {
		out = append(out, destination{"travel_rule.enclave.url (VASPGATE_TRAVEL_RULE_ENCLAVE_URL)", cfg.TravelRule.Enclave.URL})
	}
	for i, c := range cfg.Clients {
		for proto, u := range map[string]string{"sep6": c.CallbackURLs.SEP6, "sep12": c.CallbackURLs.SEP12,
			"sep24": c.CallbackURLs.SEP24, "sep31": c.CallbackURLs.SEP31} {
			if u != "" {
				out = append(out, destination{fmt.Sprintf("clients[%d].callback_urls.%s", i, proto), u})
			}
		}
	}
	return out
}

// checkDestinations runs the SSRF guard over every configured destination before anything
// is sent (issue 11, defect 4): a business URL the guard refuses used to fail every event
// silently. Production refuses to start, naming the setting; development logs a warning
// per destination and starts.
func checkDestinations(ctx context.Context, cfg config.Config, log *slog.Logger, r callback.Resolver) error {
	scopes, err := ssrfScopes(cfg)
	if err != nil {
		return err
	}
	var probs []config.Problem
	for _, d := range configuredDestinations(cfg) {
		err := scopes.Internal.CheckDestination(ctx, d.url, r)
		if err == nil {
			continue
		}
		if cfg.Production() {
			probs = append(probs, config.Problem{Key: d.key, Message: err.Error() + ": open its range in callback.allow_cidrs (VASPGATE_CALLBACK_ALLOW_CIDRS) if it is yours",
				Example: "callback.allow_cidrs: [10.0.0.0/24]"})
			continue
		}
		log.Warn("callback destination refused by the SSRF guard: nothing will reach it until callback.allow_cidrs opens its range",
			"setting", d.key, "err", err.Error())
	}
	if len(probs) > 0 {
		return &config.Error{Problems: probs}
	}
	return nil
}

// internalClient is the HTTP client of an operator-configured destination (the KYC business
// server, the enclave): the internal scope's SSRF guard at dial time, no proxy, no
// redirects, timeout bounding one call.
func internalClient(cfg config.Config, timeout time.Duration) (*http.Client, error) {
	scopes, err := ssrfScopes(cfg)
	if err != nil {
		return nil, err
	}
	return callback.NewHTTPClient(callback.ClientOptions{Guard: scopes.Internal, ConnectTimeout: cfg.Callback.ConnectTimeout, Timeout: timeout}), nil
}
