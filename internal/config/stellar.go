package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/strkey"
)

// Ledger lookup modes for SEP-10 (stellar-seps.md 3.5).
const (
	// LedgerHorizon reads accounts (signers, thresholds) from Horizon at stellar.horizon_url.
	LedgerHorizon = "horizon"
	// LedgerNone treats every account as non-existent: master-key-only authentication.
	// Insecure for multisig accounts; for tests and offline development only.
	LedgerNone = "none"
)

// Stellar configures SEP-1 (stellar.toml) and SEP-10 (web authentication). The section is
// off when signing_seed is empty: no SEP routes are served then.
//
// Zero values of the durations mean the defaults documented on each field.
type Stellar struct {
	// NetworkPassphrase is published in the toml and used to sign and verify challenges.
	NetworkPassphrase string `yaml:"network_passphrase"`
	// SigningSeed is the S… secret of the SEP-10 server account (SIGNING_KEY is its G…).
	SigningSeed string `yaml:"signing_seed"`
	// PublicURL is the scheme://host[:port] wallets reach; WEB_AUTH_ENDPOINT is PublicURL/auth,
	// KYC_SERVER PublicURL/sep12, TRANSFER_SERVER PublicURL/sep6. Its host (with port) is the
	// web_auth_domain of challenges.
	PublicURL string `yaml:"public_url"`
	// HomeDomains are the host[:port] values a challenge may be issued for; the first is the
	// default. Empty means the host of PublicURL.
	HomeDomains []string `yaml:"home_domains"`
	// JWTSecret signs SEP-10 tokens (HS256). Empty derives a key from SigningSeed, so every
	// instance sharing the seed accepts every other instance's tokens.
	JWTSecret string `yaml:"jwt_secret"`
	// ChallengeTimeout is the validity of a challenge (maxTime - minTime). Default 15m.
	ChallengeTimeout time.Duration `yaml:"challenge_timeout"`
	// TokenTTL is the validity of a SEP-10 JWT. Default 24h.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// Ledger is "horizon" (default when horizon_url is set) or "none" (tests/offline only).
	Ledger string `yaml:"ledger"`
	// HorizonURL is the Horizon server used to read signers and thresholds of client accounts.
	HorizonURL string `yaml:"horizon_url"`
	// HorizonTimeout bounds one account lookup. Default 5s.
	HorizonTimeout time.Duration `yaml:"horizon_timeout"`
	// ClientDomains, when not empty, is the allow-list of client_domain values accepted in
	// challenges; empty accepts (and verifies) any client domain.
	ClientDomains []string `yaml:"client_domains"`
	// TOML holds the informational parts of stellar.toml.
	TOML StellarTOML `yaml:"toml"`
}

// StellarTOML is what stellar.toml publishes beyond the endpoints and keys.
type StellarTOML struct {
	// Accounts lists G… accounts the organization controls (ACCOUNTS).
	Accounts []string `yaml:"accounts"`
	// HorizonURL is published as HORIZON_URL only if the organization operates one.
	HorizonURL    string               `yaml:"horizon_url"`
	Documentation StellarDocumentation `yaml:"documentation"`
	Currencies    []StellarCurrency    `yaml:"currencies"`
}

// StellarDocumentation is the [DOCUMENTATION] table of stellar.toml.
type StellarDocumentation struct {
	OrgName               string `yaml:"org_name"`
	OrgDBA                string `yaml:"org_dba"`
	OrgURL                string `yaml:"org_url"`
	OrgLogo               string `yaml:"org_logo"`
	OrgDescription        string `yaml:"org_description"`
	OrgPhysicalAddress    string `yaml:"org_physical_address"`
	OrgPhoneNumber        string `yaml:"org_phone_number"`
	OrgOfficialEmail      string `yaml:"org_official_email"`
	OrgSupportEmail       string `yaml:"org_support_email"`
	OrgLicensingAuthority string `yaml:"org_licensing_authority"`
	OrgLicenseType        string `yaml:"org_license_type"`
	OrgLicenseNumber      string `yaml:"org_license_number"`
}

// StellarCurrency is one [[CURRENCIES]] entry of stellar.toml.
type StellarCurrency struct {
	Code            string `yaml:"code"`
	Issuer          string `yaml:"issuer"`
	Status          string `yaml:"status"`
	DisplayDecimals int    `yaml:"display_decimals"`
	Name            string `yaml:"name"`
	Desc            string `yaml:"desc"`
	IsAssetAnchored bool   `yaml:"is_asset_anchored"`
	AnchorAssetType string `yaml:"anchor_asset_type"`
	AnchorAsset     string `yaml:"anchor_asset"`
}

// WithDefaults returns s with every zero duration at its default: challenges valid 15m,
// tokens 24h, Horizon lookups bounded by 5s.
func (s Stellar) WithDefaults() Stellar {
	if s.ChallengeTimeout == 0 {
		s.ChallengeTimeout = 15 * time.Minute
	}
	if s.TokenTTL == 0 {
		s.TokenTTL = 24 * time.Hour
	}
	if s.HorizonTimeout == 0 {
		s.HorizonTimeout = 5 * time.Second
	}
	return s
}

// Enabled reports whether the SEP-1/SEP-10 endpoints are configured.
func (s *Stellar) Enabled() bool { return s.SigningSeed != "" }

// LedgerMode is the effective ledger mode: the configured one, else "horizon" when a
// Horizon URL is set, else "" (invalid when enabled).
func (s *Stellar) LedgerMode() string {
	if s.Ledger != "" {
		return s.Ledger
	}
	if s.HorizonURL != "" {
		return LedgerHorizon
	}
	return ""
}

// PublicHost is the host[:port] of PublicURL (the web_auth_domain).
func (s *Stellar) PublicHost() string {
	u, err := url.Parse(s.PublicURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// EffectiveHomeDomains is HomeDomains, or the host of PublicURL when none is configured.
func (s *Stellar) EffectiveHomeDomains() []string {
	if len(s.HomeDomains) > 0 {
		return s.HomeDomains
	}
	if h := s.PublicHost(); h != "" {
		return []string{h}
	}
	return nil
}

var (
	currencyStatuses = map[string]bool{"live": true, "dead": true, "test": true, "private": true}
	anchorAssetTypes = map[string]bool{"fiat": true, "crypto": true, "stock": true, "bond": true,
		"commodity": true, "realestate": true, "other": true}
)

// NativeAsset reports whether code names the native asset (XLM), the only Stellar asset
// without an issuer (SEP-38 form stellar:native).
func NativeAsset(code string) bool { return code == "native" || code == "XLM" }

// validate checks the section; it does nothing when the section is off.
func (s *Stellar) validate() error {
	if !s.Enabled() {
		return nil
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("stellar."+format, a...)) }

	if s.NetworkPassphrase == "" {
		bad("network_passphrase: required")
	}
	const seedExample = "(example: the VASPGATE_SIGNING_SEED line of `vaspgate keys generate`)"
	if _, err := strkey.Decode(strkey.VersionByteSeed, s.SigningSeed); err != nil {
		bad("signing_seed (VASPGATE_SIGNING_SEED): not a valid S… secret seed %s", seedExample)
	} else if _, err := keypair.ParseFull(s.SigningSeed); err != nil {
		bad("signing_seed (VASPGATE_SIGNING_SEED): %v %s", err, seedExample)
	}
	const urlExample = "(example: https://anchor.example.com, or http://localhost:8000 in development)"
	u, err := url.Parse(s.PublicURL)
	switch {
	case s.PublicURL == "":
		bad("public_url (VASPGATE_PUBLIC_URL): required: the scheme://host[:port] wallets reach %s", urlExample)
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		bad("public_url (VASPGATE_PUBLIC_URL): %q is not an http(s) URL with a host %s", s.PublicURL, urlExample)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		bad("public_url (VASPGATE_PUBLIC_URL): %q must be scheme://host[:port] only %s", s.PublicURL, urlExample)
	}
	for _, d := range s.EffectiveHomeDomains() {
		if d == "" || strings.ContainsAny(d, "/ ") || len(d+" auth") > 64 {
			bad("home_domains: %q must be host[:port], at most 59 characters", d)
		}
	}
	if s.JWTSecret != "" && len(s.JWTSecret) < 32 {
		bad("jwt_secret: at least 32 characters")
	}
	if s.ChallengeTimeout < 0 || (s.ChallengeTimeout > 0 && s.ChallengeTimeout < time.Minute) {
		bad("challenge_timeout: at least 1m")
	}
	if s.TokenTTL < 0 || (s.TokenTTL > 0 && s.TokenTTL < time.Minute) {
		bad("token_ttl: at least 1m")
	}
	if s.HorizonTimeout < 0 {
		bad("horizon_timeout: must not be negative")
	}
	switch s.LedgerMode() {
	case LedgerHorizon:
		hu, err := url.Parse(s.HorizonURL)
		if s.HorizonURL == "" || err != nil || hu.Host == "" || (hu.Scheme != "https" && hu.Scheme != "http") {
			bad("horizon_url: required with ledger %q, an http(s) URL", LedgerHorizon)
		}
	case LedgerNone:
	case "":
		bad("horizon_url: required (or ledger: none, for tests and offline development only)")
	default:
		bad("ledger: %q is not %q or %q", s.Ledger, LedgerHorizon, LedgerNone)
	}
	for _, a := range s.TOML.Accounts {
		if !strkey.IsValidEd25519PublicKey(a) {
			bad("toml.accounts: %q is not a G… account", a)
		}
	}
	if len(s.TOML.Currencies) == 0 {
		bad("toml.currencies: at least one currency (SEP-1 clients and the conformance suite require it)")
	}
	for i, c := range s.TOML.Currencies {
		if c.Code == "" || len(c.Code) > 12 {
			bad("toml.currencies[%d].code: 1 to 12 characters", i)
		}
		switch {
		case c.Issuer != "" && !strkey.IsValidEd25519PublicKey(c.Issuer):
			bad("toml.currencies[%d].issuer: %q is not a G… account", i, c.Issuer)
		case c.Issuer == "" && !NativeAsset(c.Code):
			bad("toml.currencies[%d].issuer: required for %s: SEP-1 identifies a Stellar asset by code and issuer; only native XLM has none (example: the G… account that issues %s)", i, c.Code, c.Code)
		}
		if !currencyStatuses[c.Status] {
			bad("toml.currencies[%d].status: one of live, dead, test, private", i)
		}
		if c.DisplayDecimals < 0 || c.DisplayDecimals > 7 {
			bad("toml.currencies[%d].display_decimals: 0 to 7", i)
		}
		if len(c.Name) > 20 {
			bad("toml.currencies[%d].name: at most 20 characters", i)
		}
		if c.Desc == "" {
			bad("toml.currencies[%d].desc: required", i)
		}
		if !anchorAssetTypes[c.AnchorAssetType] {
			bad("toml.currencies[%d].anchor_asset_type: one of fiat, crypto, stock, bond, commodity, realestate, other", i)
		}
	}
	return errors.Join(errs...)
}
