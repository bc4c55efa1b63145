package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/stellar/go-stellar-sdk/strkey"
)

// Observer configures the Stellar payment observer: it streams the operations of the
// anchor's accounts from Horizon and moves a withdrawal to pending_anchor when its user's
// payment arrives (docs/observer.md). Off unless enabled.
type Observer struct {
	// Enabled turns the observer on. Env VASPGATE_OBSERVER_ENABLED.
	Enabled bool `yaml:"enabled"`
	// HorizonURL is the Horizon server to stream from. Default stellar.horizon_url. Env
	// VASPGATE_OBSERVER_HORIZON_URL.
	HorizonURL string `yaml:"horizon_url"`
	// Accounts are the watched G… accounts. Default: every distribution_account of
	// transfer.assets.
	Accounts []string `yaml:"accounts"`
	// LeaseTTL is how long the leading instance's lease lasts unless renewed: the longest
	// a crashed leader leaves payments unwatched. Default 15s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// StartCursor is where an account watched for the first time starts: "now" (default) or
	// a Horizon paging token ("0": the account's whole history).
	StartCursor string `yaml:"start_cursor"`
	// LagInterval is how often the lag behind the network is measured. Default 5s.
	LagInterval time.Duration `yaml:"lag_interval"`
	// MinBackoff and MaxBackoff bound the wait before reconnecting to Horizon. Defaults
	// 250ms and 30s.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// ObserverAccounts is the effective list of watched accounts: the configured one, else the
// transfer assets' distribution accounts (each once).
func (c *Config) ObserverAccounts() []string {
	if len(c.Observer.Accounts) > 0 {
		return c.Observer.Accounts
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range c.Transfer.Assets {
		if a.DistributionAccount != "" && !seen[a.DistributionAccount] {
			seen[a.DistributionAccount] = true
			out = append(out, a.DistributionAccount)
		}
	}
	return out
}

// ObserverHorizonURL is the effective Horizon URL of the observer.
func (c *Config) ObserverHorizonURL() string {
	if c.Observer.HorizonURL != "" {
		return c.Observer.HorizonURL
	}
	return c.Stellar.HorizonURL
}

func (o *Observer) applyEnv(lookup func(string) (string, bool)) []Problem {
	var probs []Problem
	if v, ok := lookup("VASPGATE_OBSERVER_ENABLED"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			probs = append(probs, Problem{Key: "observer.enabled (VASPGATE_OBSERVER_ENABLED)", Message: fmt.Sprintf("%q is not true or false", v), Example: "true"})
		}
		o.Enabled = b
	}
	if v, ok := lookup("VASPGATE_OBSERVER_HORIZON_URL"); ok {
		o.HorizonURL = v
	}
	return probs
}

func (o *Observer) validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("observer.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	for i, a := range o.Accounts {
		if !strkey.IsValidEd25519PublicKey(a) {
			bad(fmt.Sprintf("accounts[%d]", i), "%q is not a G… account", a)
		}
	}
	if o.HorizonURL != "" {
		if u, err := url.Parse(o.HorizonURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			bad("horizon_url", "%q is not an http(s) URL", o.HorizonURL)
		}
	}
	if s := o.StartCursor; s != "" && s != "now" {
		if n, err := strconv.ParseInt(s, 10, 64); err != nil || n < 0 {
			bad("start_cursor", "%q is not \"now\" or a paging token", s)
		}
	}
	for key, d := range map[string]time.Duration{"lease_ttl": o.LeaseTTL, "lag_interval": o.LagInterval, "min_backoff": o.MinBackoff, "max_backoff": o.MaxBackoff} {
		if d < 0 {
			bad(key, "must not be negative")
		}
	}
	if o.LeaseTTL > 0 && o.LeaseTTL < time.Second {
		bad("lease_ttl", "%s is below 1s", o.LeaseTTL)
	}
	return errors.Join(errs...)
}

// observerProblems checks what needs the rest of the configuration: an enabled observer
// needs a Horizon server and an account to watch.
func (c *Config) observerProblems() []Problem {
	if !c.Observer.Enabled {
		return nil
	}
	var probs []Problem
	if c.ObserverHorizonURL() == "" {
		probs = append(probs, Problem{Key: "observer.horizon_url", Message: "required when the observer is enabled (or stellar.horizon_url)", Example: "https://horizon-testnet.stellar.org"})
	}
	if len(c.ObserverAccounts()) == 0 {
		probs = append(probs, Problem{Key: "observer.accounts", Message: "no account to watch: set observer.accounts or a transfer asset's distribution_account"})
	}
	return probs
}
