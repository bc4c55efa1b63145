// Package config loads vaspgate's configuration: built-in defaults (enough to run on a bare
// machine), then a YAML file, then environment variables, which win. Validate reports every
// problem at once, one line each, naming the key, what is wrong and an example of right.
//
// Each area keeps its section in a file of its own (callback.go, stellar.go, …) with a
// validate method; this file holds the service-wide keys and the loading.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	// Mode is development or production (ModeDevelopment, ModeProduction). Env VASPGATE_MODE.
	// Unset: development only while database_url is the embedded SQLite default, else
	// production (DefaultMode). In production serve refuses unsafe settings
	// (ProductionProblems).
	Mode string `yaml:"mode"`
	// PublicAddr is the listener wallets reach (SEP-1/10/12/6). Env VASPGATE_PUBLIC_ADDR.
	PublicAddr string `yaml:"public_addr"`
	// AdminAddr is the listener only the VASP's own systems reach (JSON-RPC, enclave
	// callbacks, admin API, metrics). Env VASPGATE_ADMIN_ADDR.
	AdminAddr string `yaml:"admin_addr"`
	// DatabaseURL is "sqlite:PATH" or a postgres:// URL. Env VASPGATE_DATABASE_URL.
	DatabaseURL string `yaml:"database_url"`
	// AdminToken is the bearer token of the admin REST API, at least 24 characters. Env
	// VASPGATE_ADMIN_TOKEN.
	// Empty: a development token is generated and stored on first start.
	AdminToken string `yaml:"admin_token"`
	// EncryptionKey (base64, 32 bytes) seals personal data at rest. Env
	// VASPGATE_ENCRYPTION_KEY. Empty: a development key is generated and stored.
	EncryptionKey string `yaml:"encryption_key"`
	// EncryptionOldKeys open data sealed before a rotation. Env VASPGATE_ENCRYPTION_OLD_KEYS
	// (comma-separated).
	EncryptionOldKeys []string `yaml:"encryption_old_keys"`
	// LogLevel is debug, info, warn or error. Env VASPGATE_LOG_LEVEL.
	LogLevel string `yaml:"log_level"`
	// ShutdownTimeout bounds graceful shutdown: in-flight requests and jobs get this long.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxBodyBytes caps request bodies on both listeners (uploads have their own limit).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`

	Stellar  Stellar  `yaml:"stellar"`
	Callback Callback `yaml:"callback"`
	KYC      KYC      `yaml:"kyc"`
	Transfer Transfer `yaml:"transfer"`
	RPC      RPC      `yaml:"rpc"`
	// TravelRule is the VerifyVASP enclave callback receiver.
	TravelRule TravelRule `yaml:"travel_rule"`
	// Clients are the statically configured wallets (Anchor Platform's `clients`).
	Clients Clients `yaml:"clients"`
	// Console is the operator console on the admin listener.
	Console Console `yaml:"console"`
	// Admin is how the admin listener is reached: TLS, accepted Host and Origin values.
	Admin Admin `yaml:"admin"`
	// Quotes is SEP-38 (config/sep31.go).
	Quotes Quotes `yaml:"quotes"`
	// SEP31 is SEP-31 receive (config/sep31.go).
	SEP31 SEP31 `yaml:"sep31"`
	// Observer is the Stellar payment observer (docs/observer.md).
	Observer Observer `yaml:"observer"`
	// Limits are the rate limits, quotas and disk reserve of the public listener.
	Limits Limits `yaml:"limits"`
}

// Default returns the configuration used when nothing is set: SQLite in the working
// directory, public listener :8000, admin listener on loopback, testnet, and one test asset
// (USDC) in stellar.toml and SEP-6, so a wallet can try every flow at once.
func Default() Config {
	return Config{
		PublicAddr:      ":8000",
		AdminAddr:       "127.0.0.1:8001",
		DatabaseURL:     "sqlite:vaspgate.db",
		LogLevel:        "info",
		ShutdownTimeout: 20 * time.Second,
		MaxBodyBytes:    1 << 20,
		Stellar:         defaultStellar(),
		Transfer: Transfer{Assets: []TransferAsset{{
			Code: "USDC", OffchainAsset: "iso4217:USD",
			Deposit:  TransferOp{Enabled: true, MinAmount: "1", MaxAmount: "10000", FundingMethods: []string{"SEPA", "SWIFT"}},
			Withdraw: TransferOp{Enabled: true, MinAmount: "1", MaxAmount: "10000", FundingMethods: []string{"SEPA", "SWIFT"}},
		}}},
		Quotes: defaultQuotes(),
		SEP31:  defaultSEP31(),
	}
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	Key     string // e.g. "database_url (VASPGATE_DATABASE_URL)"
	Message string // what is wrong
	Example string // an example of a right value, when one helps
}

func (p Problem) String() string {
	s := p.Key + ": " + p.Message
	if p.Example != "" {
		s += " (example: " + p.Example + ")"
	}
	return s
}

// Error lists every problem found; its message has one line per problem.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "  - " + p.String()
	}
	return fmt.Sprintf("invalid configuration (%d problem(s)):\n%s", len(e.Problems), strings.Join(lines, "\n"))
}

// Load reads the defaults, then the YAML file at path (if path is not empty), then the
// environment as given by lookup (os.LookupEnv in production), and validates the result.
func Load(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var probs []Problem
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, &Error{[]Problem{{Key: "--config", Message: err.Error(), Example: "--config vaspgate.yaml"}}}
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: empty file
			return cfg, &Error{[]Problem{{Key: path, Message: "YAML: " + err.Error()}}}
		}
	}
	probs = append(probs, cfg.applyEnv(lookup)...)
	if cfg.Mode == "" {
		cfg.Mode = DefaultMode(cfg.DatabaseURL)
	}
	// With no Horizon configured, SEP-10 runs offline: only the rules for accounts that do
	// not exist apply (the development mode). Serve logs this as insecure.
	if cfg.Stellar.Ledger == "" && cfg.Stellar.HorizonURL == "" {
		cfg.Stellar.Ledger = LedgerNone
	}
	cfg.complete()
	// Values generated on first start are checked as stand-ins (see Check), so everything
	// else is reported now, before anything touches the database.
	standIns := cfg.withStandIns()
	probs = append(probs, standIns.problems()...)
	if len(probs) > 0 {
		return cfg, &Error{probs}
	}
	return cfg, nil
}

// complete fills in every section's defaults: this is their one home, and what Load
// returns (and Check and Validate leave behind, for a Config built by hand) is complete, so
// no package past app applies a default of its own. Each WithDefaults keeps a set value,
// so completing twice changes nothing.
func (c *Config) complete() {
	c.Stellar = c.Stellar.WithDefaults()
	c.Callback = c.Callback.WithDefaults()
	c.KYC = c.KYC.WithDefaults()
	c.RPC = c.RPC.WithDefaults()
	c.Transfer = c.Transfer.WithDefaults()
	c.TravelRule = c.TravelRule.WithDefaults()
	c.Console = c.Console.WithDefaults()
}

// Validate completes the configuration and checks it as it is now (after development
// secrets are filled in), with the production refusals when in production.
func (c *Config) Validate() error {
	c.complete()
	if probs := append(c.problems(), c.ProductionProblems()...); len(probs) > 0 {
		return &Error{probs}
	}
	return nil
}

func (c *Config) applyEnv(lookup func(string) (string, bool)) []Problem {
	var probs []Problem
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok {
			*dst = v
		}
	}
	str("VASPGATE_MODE", &c.Mode)
	str("VASPGATE_PUBLIC_ADDR", &c.PublicAddr)
	str("VASPGATE_ADMIN_ADDR", &c.AdminAddr)
	str("VASPGATE_DATABASE_URL", &c.DatabaseURL)
	str("VASPGATE_ADMIN_TOKEN", &c.AdminToken)
	str("VASPGATE_ENCRYPTION_KEY", &c.EncryptionKey)
	str("VASPGATE_LOG_LEVEL", &c.LogLevel)
	str("VASPGATE_SIGNING_SEED", &c.Stellar.SigningSeed)
	str("VASPGATE_PUBLIC_URL", &c.Stellar.PublicURL)
	str("VASPGATE_NETWORK_PASSPHRASE", &c.Stellar.NetworkPassphrase)
	str("VASPGATE_HORIZON_URL", &c.Stellar.HorizonURL)
	str("VASPGATE_LEDGER", &c.Stellar.Ledger)
	str("VASPGATE_BUSINESS_EVENT_URL", &c.Callback.Business.URL)
	if v, ok := lookup("VASPGATE_ENCRYPTION_OLD_KEYS"); ok {
		c.EncryptionOldKeys = splitList(v)
	}
	if v, ok := lookup("VASPGATE_CALLBACK_ALLOW_CIDRS"); ok {
		c.Callback.AllowCIDRs = splitList(v)
	}
	if v, ok := lookup("VASPGATE_CALLBACK_WALLET_ALLOW_CIDRS"); ok {
		c.Callback.WalletAllowCIDRs = splitList(v)
	}
	if v, ok := lookup("VASPGATE_SHUTDOWN_TIMEOUT"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			probs = append(probs, Problem{"shutdown_timeout (VASPGATE_SHUTDOWN_TIMEOUT)", "not a duration: " + strconv.Quote(v), "20s"})
		} else {
			c.ShutdownTimeout = d
		}
	}
	for _, s := range c.sections() {
		if e, ok := s.(interface {
			applyEnv(func(string) (string, bool)) []Problem
		}); ok {
			probs = append(probs, e.applyEnv(lookup)...)
		}
	}
	return probs
}

// sections lists the area sections, for the hooks they may implement.
func (c *Config) sections() []any {
	return []any{&c.Stellar, &c.Callback, &c.KYC, &c.Transfer, &c.RPC, &c.Clients, &c.TravelRule, &c.Console, &c.Admin, &c.Quotes, &c.SEP31, &c.Observer, &c.Limits}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c *Config) problems() []Problem {
	var probs []Problem
	add := func(key, msg, example string) { probs = append(probs, Problem{key, msg, example}) }

	switch c.Mode {
	case "", ModeDevelopment, ModeProduction:
	default:
		add("mode (VASPGATE_MODE)", fmt.Sprintf("%q is not development or production", c.Mode), "production")
	}
	for _, l := range []struct{ key, val, example string }{
		{"public_addr (VASPGATE_PUBLIC_ADDR)", c.PublicAddr, ":8000"},
		{"admin_addr (VASPGATE_ADMIN_ADDR)", c.AdminAddr, "127.0.0.1:8001"},
	} {
		if _, port, err := net.SplitHostPort(l.val); err != nil {
			add(l.key, fmt.Sprintf("%q is not host:port", l.val), l.example)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			add(l.key, fmt.Sprintf("port %q is not a number from 0 to 65535", port), l.example)
		}
	}
	if c.PublicAddr == c.AdminAddr && c.PublicAddr != "" && !strings.HasSuffix(c.PublicAddr, ":0") {
		add("admin_addr (VASPGATE_ADMIN_ADDR)", "must differ from public_addr: the admin API must not be reachable where wallets are", "127.0.0.1:8001")
	}
	switch {
	case c.DatabaseURL == "":
		add("database_url (VASPGATE_DATABASE_URL)", "required", "sqlite:vaspgate.db or postgres://user:pass@host:5432/vaspgate")
	case !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		add("database_url (VASPGATE_DATABASE_URL)", "must start with sqlite: or postgres://", "sqlite:vaspgate.db or postgres://user:pass@host:5432/vaspgate")
	case c.DatabaseURL == "sqlite:":
		add("database_url (VASPGATE_DATABASE_URL)", "sqlite URL has no file path", "sqlite:vaspgate.db")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 24 {
		add("admin_token (VASPGATE_ADMIN_TOKEN)", fmt.Sprintf("too short (%d characters, want at least 24)", len(c.AdminToken)), "output of: openssl rand -hex 32")
	}
	if c.EncryptionKey != "" {
		if err := checkKey(c.EncryptionKey); err != nil {
			add("encryption_key (VASPGATE_ENCRYPTION_KEY)", err.Error(), "output of: openssl rand -base64 32")
		}
	}
	for i, k := range c.EncryptionOldKeys {
		if err := checkKey(k); err != nil {
			add(fmt.Sprintf("encryption_old_keys[%d] (VASPGATE_ENCRYPTION_OLD_KEYS)", i), err.Error(), "output of: openssl rand -base64 32")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level (VASPGATE_LOG_LEVEL)", fmt.Sprintf("%q is not debug, info, warn or error", c.LogLevel), "info")
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout (VASPGATE_SHUTDOWN_TIMEOUT)", "must be positive", "20s")
	}
	if c.MaxBodyBytes < 1024 {
		add("max_body_bytes", "must be at least 1024", "1048576")
	}
	for _, s := range c.sections() {
		if v, ok := s.(interface{ validate() error }); ok {
			probs = append(probs, sectionProblems(v.validate())...)
		}
	}
	probs = append(probs, c.assetProblems()...)
	probs = append(probs, c.observerProblems()...)
	return probs
}

// assetProblems checks that stellar.toml and SEP-6 agree: every transfer asset is published
// among stellar.toml's currencies with the same issuer, since wallets discover assets there
// (SEP-1) and then address them as stellar:CODE:ISSUER.
func (c *Config) assetProblems() []Problem {
	if !c.Stellar.Enabled() {
		return nil
	}
	var probs []Problem
	for i, a := range c.Transfer.Assets {
		found, sameIssuer := false, false
		for _, cur := range c.Stellar.TOML.Currencies {
			if cur.Code == a.Code {
				found = true
				sameIssuer = sameIssuer || cur.Issuer == a.Issuer
			}
		}
		key := fmt.Sprintf("transfer.assets[%d]", i)
		switch {
		case !found:
			probs = append(probs, Problem{key, fmt.Sprintf("%s is offered for SEP-6 but is not among stellar.toml's currencies (stellar.toml.currencies)", a.Code),
				fmt.Sprintf("a stellar.toml.currencies entry with code %s and issuer %s", a.Code, a.Issuer)})
		case !sameIssuer:
			probs = append(probs, Problem{key + ".issuer", fmt.Sprintf("%q differs from the issuer stellar.toml publishes for %s", a.Issuer, a.Code),
				"the same G… account in transfer.assets[].issuer and stellar.toml.currencies[].issuer"})
		}
	}
	return probs
}

// problemKeyRe is a key as sections write it: "section.key", optionally followed by the
// environment variable that sets it, "section.key (VASPGATE_…)".
var problemKeyRe = regexp.MustCompile(`^[A-Za-z0-9_.\[\]]+( \([A-Z0-9_]+\))?$`)

// sectionProblems turns a section's (possibly joined) error into one problem per error.
func sectionProblems(err error) []Problem {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	probs := make([]Problem, 0, len(errs))
	for _, e := range errs {
		msg := e.Error()
		key, rest, ok := strings.Cut(msg, ": ")
		if !ok || !problemKeyRe.MatchString(key) {
			key, rest = "config", msg
		}
		probs = append(probs, Problem{Key: key, Message: rest})
	}
	return probs
}

func checkKey(s string) error {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return errors.New("not valid base64")
	}
	if len(b) != 32 {
		return fmt.Errorf("decodes to %d bytes, want 32", len(b))
	}
	return nil
}

// TestnetPassphrase is the Stellar test network's passphrase, the development default.
const TestnetPassphrase = "Test SDF Network ; September 2015"

func defaultStellar() Stellar {
	return Stellar{
		NetworkPassphrase: TestnetPassphrase,
		PublicURL:         "http://localhost:8000",
		TOML: StellarTOML{
			Documentation: StellarDocumentation{OrgName: "vaspgate development anchor"},
			Currencies: []StellarCurrency{{
				Code: "USDC", Status: "test", DisplayDecimals: 2, Name: "USD Coin (test)",
				Desc: "Test dollar for development", IsAssetAnchored: true, AnchorAssetType: "fiat", AnchorAsset: "USD",
			}},
		},
	}
}
