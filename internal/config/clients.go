package config

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/stellar/go-stellar-sdk/strkey"
)

// Client kinds (Client.Type), as in Anchor Platform's clients configuration. The rule that
// finds the client of an identity is wallet.Clients.For; app hands it these.
const (
	// ClientCustodial is identified by the SEP-10 account (token sub) in SigningKeys.
	ClientCustodial = "custodial"
	// ClientNoncustodial is identified by the verified SEP-10 client_domain in Domains.
	ClientNoncustodial = "noncustodial"
)

// Client is one known wallet (Anchor Platform's `clients` items): how to recognise its
// customers and transactions, and where its static callbacks go. A client receives callbacks
// only about its own customers and transactions.
type Client struct {
	Name string `yaml:"name"`
	// Type is "custodial" or "noncustodial".
	Type string `yaml:"type"`
	// SigningKeys are the G… accounts of a custodial client.
	SigningKeys []string `yaml:"signing_keys"`
	// Domains are the client_domain values of a noncustodial client.
	Domains []string `yaml:"domains"`
	// CallbackURLs are the static callback targets per protocol; all optional.
	CallbackURLs ClientCallbackURLs `yaml:"callback_urls"`
}

// ClientCallbackURLs are a client's static callback targets.
type ClientCallbackURLs struct {
	SEP6  string `yaml:"sep6"`
	SEP12 string `yaml:"sep12"`
	SEP24 string `yaml:"sep24"`
	SEP31 string `yaml:"sep31"`
}

// Clients is the `clients` section: a list of known wallets.
type Clients []Client

// validate checks every client.
func (cs Clients) validate() error {
	var errs []error
	names := map[string]bool{}
	for i, c := range cs {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("clients[%d]."+format, append([]any{i}, a...)...))
		}
		if c.Name == "" {
			bad("name: required")
		} else if names[c.Name] {
			bad("name: %q appears twice", c.Name)
		}
		names[c.Name] = true
		switch c.Type {
		case ClientCustodial:
			if len(c.SigningKeys) == 0 {
				bad("signing_keys: required for a custodial client")
			}
			for _, k := range c.SigningKeys {
				if !strkey.IsValidEd25519PublicKey(k) {
					bad("signing_keys: %q is not a G… account", k)
				}
			}
		case ClientNoncustodial:
			if len(c.Domains) == 0 {
				bad("domains: required for a noncustodial client")
			}
		default:
			bad("type: %q, want custodial or noncustodial", c.Type)
		}
		for proto, raw := range map[string]string{"sep6": c.CallbackURLs.SEP6, "sep12": c.CallbackURLs.SEP12,
			"sep24": c.CallbackURLs.SEP24, "sep31": c.CallbackURLs.SEP31} {
			if raw == "" {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				bad("callback_urls.%s: %q is not an http(s) URL", proto, raw)
			}
		}
	}
	return errors.Join(errs...)
}
