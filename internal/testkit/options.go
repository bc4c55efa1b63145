// Package testkit holds what tests in several packages share. Its Options helpers give the
// components tests build directly (without internal/app) complete settings: a test names
// the values it cares about and the rest are production's defaults. Those defaults have one
// home, internal/config; app's tests check that the values here still equal it.
package testkit

import (
	"net/url"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

// CallbackOptions returns the delivery engine's production settings with loopback allowed
// past the SSRF guard (test receivers listen on 127.0.0.1).
func CallbackOptions() callback.Options {
	return callback.Options{
		Workers:          256,
		PollInterval:     50 * time.Millisecond,
		ConnectTimeout:   5 * time.Second,
		Timeout:          15 * time.Second,
		MaxResponseBytes: 16 << 10,
		RetrySchedule: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
			2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour},
		Jitter:             0.2,
		ThrottleFloor:      60 * time.Second,
		Lease:              60 * time.Second,
		CircuitThreshold:   5,
		CircuitCooldown:    30 * time.Second,
		CircuitMaxCooldown: 10 * time.Minute,
		DisableAfter:       120 * time.Hour,
		Retention:          720 * time.Hour,
		AllowCIDRs:         []string{"127.0.0.0/8"},
		WalletAllowCIDRs:   []string{"127.0.0.0/8"},
	}
}

// BusinessEvents returns the business event endpoint at url as production configures it by
// default (Anchor Platform's envelope, no authentication).
func BusinessEvents(url string) callback.Business {
	return callback.Business{URL: url, Format: callback.EnvelopeAnchorPlatform, Auth: BusinessAuth(callback.Auth{})}
}

// BusinessAuth completes a: type none when empty, the default JWT lifetime.
func BusinessAuth(a callback.Auth) callback.Auth {
	if a.Type == "" {
		a.Type = callback.AuthNone
	}
	if a.Lifetime == 0 {
		a.Lifetime = 30 * time.Second
	}
	return a
}

// KYCOptions returns o with every zero setting at its production default: the builtin back
// end, one type sep6 asking for first_name, last_name and email_address, string fields
// described by their names, 10 MiB files kept 24h, unrequested fields dropped, business
// calls bounded by 10s.
func KYCOptions(o kyc.Options) kyc.Options {
	if o.Backend == "" {
		o.Backend = kyc.Builtin
	}
	if len(o.Types) == 0 {
		o.Types = map[string]kyc.CustomerType{"sep6": {Fields: map[string]kyc.Field{
			"first_name":    {Type: "string", Description: "first name"},
			"last_name":     {Type: "string", Description: "last name"},
			"email_address": {Type: "string", Description: "email address"},
		}}}
	}
	types := make(map[string]kyc.CustomerType, len(o.Types))
	for name, t := range o.Types {
		fields := make(map[string]kyc.Field, len(t.Fields))
		for fn, f := range t.Fields {
			if f.Type == "" {
				f.Type = "string"
			}
			if f.Description == "" {
				f.Description = strings.ReplaceAll(fn, "_", " ")
			}
			fields[fn] = f
		}
		types[name] = kyc.CustomerType{Fields: fields}
	}
	o.Types = types
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 10 << 20
	}
	if o.UnrequestedFields == "" {
		o.UnrequestedFields = kyc.UnrequestedDrop
	}
	if o.FileTTL <= 0 {
		o.FileTTL = 24 * time.Hour
	}
	o.Business.Auth = BusinessAuth(o.Business.Auth)
	if o.Business.Timeout <= 0 {
		o.Business.Timeout = 10 * time.Second
	}
	return o
}

// StellarOptions returns o with every zero setting at its production default: challenges
// valid 15 minutes, tokens 24 hours, the home domain the public URL's host, and no ledger
// (ledger: none) unless a Horizon URL is set.
func StellarOptions(o stellar.Options) stellar.Options {
	if o.ChallengeTimeout == 0 {
		o.ChallengeTimeout = 15 * time.Minute
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 24 * time.Hour
	}
	if o.HorizonTimeout == 0 {
		o.HorizonTimeout = 5 * time.Second
	}
	if o.LedgerMode == "" {
		o.LedgerMode = stellar.LedgerNone
		if o.HorizonURL != "" {
			o.LedgerMode = stellar.LedgerHorizon
		}
	}
	if len(o.HomeDomains) == 0 {
		if u, err := url.Parse(o.PublicURL); err == nil && u.Host != "" {
			o.HomeDomains = []string{u.Host}
		}
	}
	return o
}

// FastCallbackOptions is CallbackOptions signing wallet callbacks with seed and polling
// every 10ms, so a test sees a delivery soon after its commit.
func FastCallbackOptions(seed string) callback.Options {
	o := CallbackOptions()
	o.PollInterval = 10 * time.Millisecond
	o.SigningSeed = seed
	return o
}

// TravelRuleOptions returns o with the operator's settings at their production defaults
// where zero: a 250 ms store budget, IVMS101 kept 1825 days.
func TravelRuleOptions(o travelrule.Options) travelrule.Options {
	if o.StoreBudget <= 0 {
		o.StoreBudget = 250 * time.Millisecond
	}
	if o.RetentionDays <= 0 {
		o.RetentionDays = 1825
	}
	return o
}

// EnclaveConfig returns c with the body limit at its production default (1 MiB) where zero.
func EnclaveConfig(c travelrulehttp.CallbackConfig) travelrulehttp.CallbackConfig {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	return c
}
