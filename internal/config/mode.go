package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Modes (Config.Mode).
const (
	// ModeDevelopment generates missing secrets, allows rpc.auth.type none and a plain-text
	// admin listener anywhere, and only warns about configured destinations the SSRF guard
	// refuses.
	ModeDevelopment = "development"
	// ModeProduction refuses to serve with any of those (see ProductionProblems): the safe
	// behaviour needs no configuration, the unsafe one needs mode: development.
	ModeProduction = "production"
)

// Admin configures how the admin listener (JSON-RPC, enclave callbacks, admin API, console,
// metrics) is reached. Every admin route but the console's form posts (CSRF tokens) and the
// enclave's callbacks (their own token and content rules) checks Host, Origin and, for a
// body, a JSON content type: a browser on the operator's machine cannot be turned against
// the listener (cross-site requests, DNS rebinding).
type Admin struct {
	// TLSCertFile and TLSKeyFile (PEM) serve the admin listener over TLS. Env
	// VASPGATE_ADMIN_TLS_CERT_FILE, VASPGATE_ADMIN_TLS_KEY_FILE.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// AllowPlaintext acknowledges, in production, an admin listener on a non-loopback
	// address without TLS (e.g. a private network where TLS ends at a proxy). Env
	// VASPGATE_ADMIN_ALLOW_PLAINTEXT.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// Hosts are the Host header values (host or host:port) the admin listener answers,
	// besides loopback names (localhost, 127.0.0.1, [::1]), which are always accepted. Env
	// VASPGATE_ADMIN_HOSTS (comma-separated).
	Hosts []string `yaml:"hosts"`
	// Origins are the browser origins (scheme://host[:port]) allowed to call the admin
	// listener; a request with any other Origin header is refused. Default none. Env
	// VASPGATE_ADMIN_ORIGINS (comma-separated).
	Origins []string `yaml:"origins"`
}

func (a *Admin) applyEnv(lookup func(string) (string, bool)) []Problem {
	var probs []Problem
	if v, ok := lookup("VASPGATE_ADMIN_TLS_CERT_FILE"); ok {
		a.TLSCertFile = v
	}
	if v, ok := lookup("VASPGATE_ADMIN_TLS_KEY_FILE"); ok {
		a.TLSKeyFile = v
	}
	if v, ok := lookup("VASPGATE_ADMIN_ALLOW_PLAINTEXT"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			probs = append(probs, Problem{"admin.allow_plaintext (VASPGATE_ADMIN_ALLOW_PLAINTEXT)", "not true or false: " + strconv.Quote(v), "true"})
		}
		a.AllowPlaintext = b
	}
	if v, ok := lookup("VASPGATE_ADMIN_HOSTS"); ok {
		a.Hosts = splitList(v)
	}
	if v, ok := lookup("VASPGATE_ADMIN_ORIGINS"); ok {
		a.Origins = splitList(v)
	}
	return probs
}

// TLS reports whether the admin listener serves TLS.
func (a *Admin) TLS() bool { return a.TLSCertFile != "" }

func (a *Admin) validate() error {
	var errs []error
	if (a.TLSCertFile == "") != (a.TLSKeyFile == "") {
		errs = append(errs, fmt.Errorf("admin.tls_cert_file (VASPGATE_ADMIN_TLS_CERT_FILE): set together with admin.tls_key_file (VASPGATE_ADMIN_TLS_KEY_FILE)"))
	}
	for _, h := range a.Hosts {
		if h == "" || strings.ContainsAny(h, "/ ") {
			errs = append(errs, fmt.Errorf("admin.hosts (VASPGATE_ADMIN_HOSTS): %q is not a host or host:port (example: vaspgate-admin.internal)", h))
		}
	}
	for _, o := range a.Origins {
		if !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") || strings.Count(o, "/") != 2 {
			errs = append(errs, fmt.Errorf("admin.origins (VASPGATE_ADMIN_ORIGINS): %q is not scheme://host[:port] (example: https://ops.example.com)", o))
		}
	}
	return errors.Join(errs...)
}

// DefaultMode is the mode when none is set: development only while the database is the
// embedded SQLite default (a first run on a bare machine), production as soon as
// database_url names anything else, so a deployment is safe without saying so.
func DefaultMode(databaseURL string) string {
	if databaseURL == Default().DatabaseURL {
		return ModeDevelopment
	}
	return ModeProduction
}

// Production reports whether the configuration is in production mode. Load always sets the
// mode; a configuration built in code with no mode (tests) is development.
func (c *Config) Production() bool { return c.Mode == ModeProduction }

// LoopbackAddr reports whether a listen address (host:port) binds loopback only. An empty
// host (":8001") binds every interface; a host name other than localhost is not trusted to
// resolve to loopback.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// ProductionProblems lists what production refuses to serve with, each naming the setting
// and the way out: rpc.auth.type none, a secret left to be generated (admin token,
// encryption key, signing seed, the development asset's issuer), an admin listener beyond
// loopback in plain text without acknowledgement, and settings that exist for development
// only. It is empty in development. Destinations the SSRF guard refuses are checked by app,
// which holds the guard.
func (c *Config) ProductionProblems() []Problem {
	if !c.Production() {
		return nil
	}
	var probs []Problem
	add := func(key, msg, example string) { probs = append(probs, Problem{key, msg, example}) }
	const why = "required in production (mode: production; VASPGATE_MODE=development generates one for development)"
	if c.AdminToken == "" {
		add("admin_token (VASPGATE_ADMIN_TOKEN)", why, "output of: openssl rand -hex 32")
	}
	if c.EncryptionKey == "" {
		add("encryption_key (VASPGATE_ENCRYPTION_KEY)", why, "output of: openssl rand -base64 32")
	}
	if c.Stellar.SigningSeed == "" {
		add("stellar.signing_seed (VASPGATE_SIGNING_SEED)", why, "the VASPGATE_SIGNING_SEED line of `vaspgate keys generate`")
	}
	if c.NeedsDevAssetIssuer() {
		add("transfer.assets", "the development asset (USDC with a generated issuer) is not served in production: configure transfer.assets and stellar.toml.currencies with their issuer",
			"stellar.toml.currencies[].issuer and transfer.assets[].issuer: the G… account that issues the asset")
	}
	if r := c.RPC.WithDefaults(); r.Auth.Type == AuthNone {
		add("rpc.auth.type (VASPGATE_RPC_AUTH_TYPE)", "none lets anyone who reaches the admin listener move funds; production needs api_key or jwt",
			"api_key with rpc.auth.secret (VASPGATE_RPC_AUTH_SECRET) from openssl rand -hex 32")
	}
	if !LoopbackAddr(c.AdminAddr) && !c.Admin.TLS() && !c.Admin.AllowPlaintext {
		add("admin_addr (VASPGATE_ADMIN_ADDR)", fmt.Sprintf("%q is not a loopback address and the admin listener has no TLS: set admin.tls_cert_file and admin.tls_key_file, or acknowledge plain text on a private network with admin.allow_plaintext (VASPGATE_ADMIN_ALLOW_PLAINTEXT=true)", c.AdminAddr),
			"127.0.0.1:8001")
	}
	if len(c.Callback.WalletAllowCIDRs) > 0 {
		add("callback.wallet_allow_cidrs (VASPGATE_CALLBACK_WALLET_ALLOW_CIDRS)", "development only: in production wallet-registered callback URLs never reach private, loopback or link-local addresses", "")
	}
	return probs
}
