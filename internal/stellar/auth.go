package stellar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/strkey"
	"github.com/stellar/go-stellar-sdk/txnbuild"
)

// RequestError is a client error: a bad request or an invalid challenge (HTTP 400).
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

func invalid(msg string) error { return &RequestError{Msg: msg} }

// Ledger lookup modes for SEP-10 (Options.LedgerMode, stellar-seps.md 3.5).
const (
	// LedgerHorizon reads accounts (signers, thresholds) from Horizon at HorizonURL.
	LedgerHorizon = "horizon"
	// LedgerNone treats every account as non-existent: master-key-only authentication.
	// Insecure for multisig accounts; for tests and offline development only.
	LedgerNone = "none"
)

// Options configure Auth. The settings are used as given: their defaults have one home,
// internal/config, whose Load fills them in.
type Options struct {
	// NetworkPassphrase is published in the toml and used to sign and verify challenges.
	NetworkPassphrase string
	// SigningSeed is the S… secret of the SEP-10 server account (SIGNING_KEY is its G…).
	SigningSeed string
	// PublicURL is the scheme://host[:port] wallets reach; its host is the web_auth_domain.
	PublicURL string
	// HomeDomains are the host[:port] values a challenge may be issued for; the first is the
	// default.
	HomeDomains []string
	// JWTSecret signs SEP-10 tokens (HS256); empty derives a key from SigningSeed, so every
	// instance sharing the seed accepts every other instance's tokens.
	JWTSecret string
	// ChallengeTimeout is the validity of a challenge, TokenTTL of a SEP-10 JWT.
	ChallengeTimeout time.Duration
	TokenTTL         time.Duration
	// LedgerMode is LedgerHorizon (reading HorizonURL, each lookup bounded by
	// HorizonTimeout) or LedgerNone; it is not consulted when Ledger is set.
	LedgerMode     string
	HorizonURL     string
	HorizonTimeout time.Duration
	// ClientDomains, when not empty, is the allow-list of client_domain values; empty
	// accepts (and verifies) any client domain.
	ClientDomains []string
	// TOML holds the informational parts of stellar.toml.
	TOML TOML

	// Ledger reads client accounts. Nil means: a Horizon ledger from the configuration, or
	// no ledger at all when it says ledger: none.
	Ledger Ledger
	// ClientDomainHTTP fetches client domains' stellar.toml; pass the SSRF-safe client. Nil
	// means client_domain is not verified and the parameter is ignored.
	ClientDomainHTTP *http.Client
	// Redemptions remembers used challenges and account forms. Nil means in memory (one
	// instance only); pass NewStoreRedemptions(db) when several instances share a database.
	Redemptions Redemptions
	// Logger receives warnings and failures; nil means slog.Default().
	Logger *slog.Logger
	// Servers are further SEP endpoints to publish in stellar.toml, key -> path under the
	// public URL (DIRECT_PAYMENT_SERVER -> /sep31, ANCHOR_QUOTE_SERVER -> /sep38).
	Servers map[string]string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Auth is the SEP-1 and SEP-10 service: stellar.toml, challenges, tokens, token checks.
type Auth struct {
	passphrase    string
	server        *keypair.Full
	webAuthDomain string
	homeDomains   []string
	issuer        string
	jwtKey        []byte
	challengeTTL  time.Duration
	tokenTTL      time.Duration
	clientDomains []string
	ledger        Ledger
	clientHTTP    *http.Client
	redemptions   Redemptions
	log           *slog.Logger
	now           func() time.Time
	toml          []byte
}

// New returns the service for the settings in cfg.
func New(cfg Options) (*Auth, error) {
	if cfg.SigningSeed == "" {
		return nil, errors.New("stellar: signing_seed is not configured")
	}
	server, err := keypair.ParseFull(cfg.SigningSeed)
	if err != nil {
		return nil, fmt.Errorf("stellar: signing seed: %w", err)
	}
	if cfg.NetworkPassphrase == "" {
		return nil, errors.New("stellar: network passphrase is not configured")
	}
	host := publicHost(cfg.PublicURL)
	if host == "" {
		return nil, fmt.Errorf("stellar: public url %q has no host", cfg.PublicURL)
	}
	if cfg.ChallengeTimeout <= 0 || cfg.TokenTTL <= 0 {
		return nil, errors.New("stellar: challenge timeout and token TTL must be positive")
	}
	a := &Auth{
		passphrase:    cfg.NetworkPassphrase,
		server:        server,
		webAuthDomain: host,
		homeDomains:   cfg.HomeDomains,
		issuer:        strings.TrimRight(cfg.PublicURL, "/") + "/auth",
		jwtKey:        jwtKey(cfg.JWTSecret, cfg.SigningSeed),
		challengeTTL:  cfg.ChallengeTimeout,
		tokenTTL:      cfg.TokenTTL,
		clientDomains: cfg.ClientDomains,
		ledger:        cfg.Ledger,
		clientHTTP:    cfg.ClientDomainHTTP,
		redemptions:   cfg.Redemptions,
		log:           cfg.Logger,
		now:           cfg.Now,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.redemptions == nil {
		a.redemptions = NewMemoryRedemptions()
	}
	if a.ledger == nil {
		switch cfg.LedgerMode {
		case LedgerHorizon:
			if a.ledger, err = NewHorizon(cfg.HorizonURL, nil, cfg.HorizonTimeout); err != nil {
				return nil, err
			}
		case LedgerNone:
			a.log.Warn("stellar: SEP-10 ledger lookups are disabled (ledger: none): every account is " +
				"treated as non-existent and authenticated by its master key alone; insecure for " +
				"multisig accounts, for tests and offline development only")
		default:
			return nil, errors.New("stellar: set horizon_url, or ledger: none for tests and offline development")
		}
	}
	a.toml = renderTOML(&cfg, server.Address(), cfg.Servers)
	return a, nil
}

// publicHost is the host[:port] of a public URL (the web_auth_domain); empty when it has none.
func publicHost(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// SigningKey is the G… address of the SEP-10 server account (SIGNING_KEY).
func (a *Auth) SigningKey() string { return a.server.Address() }

// NetworkPassphrase is the configured network passphrase.
func (a *Auth) NetworkPassphrase() string { return a.passphrase }

// TOML is the rendered stellar.toml.
func (a *Auth) TOML() []byte { return a.toml }

// ChallengeRequest is the query of GET /auth.
type ChallengeRequest struct {
	Account      string
	Memo         string
	HomeDomain   string
	ClientDomain string
}

// Challenge is the body of a GET /auth answer; it has exactly these two keys.
type Challenge struct {
	Transaction       string `json:"transaction"`
	NetworkPassphrase string `json:"network_passphrase"`
}

// Challenge builds a signed challenge for r (stellar-seps.md 3.1).
func (a *Auth) Challenge(ctx context.Context, r ChallengeRequest) (Challenge, error) {
	p := challengeParams{client: r.Account}
	account := r.Account
	shared := false
	switch {
	case r.Account == "":
		return Challenge{}, invalid("account is required")
	case strkey.IsValidEd25519PublicKey(r.Account):
		if r.Memo != "" {
			n, err := strconv.ParseUint(r.Memo, 10, 64)
			if err != nil {
				return Challenge{}, invalid("memo must be an id memo (a decimal unsigned 64-bit integer)")
			}
			m := txnbuild.MemoID(n)
			p.memo = &m
			shared = true
		}
	case strkey.IsValidMuxedAccountEd25519PublicKey(r.Account):
		if r.Memo != "" {
			return Challenge{}, invalid("memo is not allowed with a muxed account")
		}
		id, err := ParseSub(r.Account)
		if err != nil {
			return Challenge{}, invalid("account is not a valid G… or M… account")
		}
		account, shared = id.Account, true
	default:
		return Challenge{}, invalid("account is not a valid G… or M… account")
	}

	p.homeDomain = a.homeDomains[0]
	if r.HomeDomain != "" {
		if !slices.Contains(a.homeDomains, r.HomeDomain) {
			return Challenge{}, invalid("home_domain is not a home domain of this server")
		}
		p.homeDomain = r.HomeDomain
	}

	// Refuse early a form the account cannot redeem (the token exchange checks it again).
	if err := a.checkForm(ctx, account, shared); err != nil {
		return Challenge{}, err
	}

	if r.ClientDomain != "" && a.clientHTTP != nil {
		if len(a.clientDomains) > 0 && !slices.Contains(a.clientDomains, r.ClientDomain) {
			return Challenge{}, invalid("client_domain is not allowed")
		}
		key, err := clientDomainKey(ctx, a.clientHTTP, r.ClientDomain)
		if err != nil {
			a.log.InfoContext(ctx, "stellar: client domain lookup failed", "client_domain", r.ClientDomain, "err", err)
			return Challenge{}, invalid("client_domain: cannot read SIGNING_KEY from https://" + r.ClientDomain + "/.well-known/stellar.toml")
		}
		p.clientDomain, p.clientDomainKey = r.ClientDomain, key
	}

	now := a.now()
	p.minTime, p.maxTime = now, now.Add(a.challengeTTL)
	tx, err := a.buildChallenge(p)
	if err != nil {
		return Challenge{}, err
	}
	b64, err := tx.Base64()
	if err != nil {
		return Challenge{}, fmt.Errorf("stellar: encode challenge: %w", err)
	}
	return Challenge{Transaction: b64, NetworkPassphrase: a.passphrase}, nil
}

// checkForm refuses an account authenticating in the form it has not used before.
func (a *Auth) checkForm(ctx context.Context, account string, shared bool) error {
	recorded, known, err := a.redemptions.AccountShared(ctx, account)
	if err != nil {
		return fmt.Errorf("stellar: account form: %w", err)
	}
	if known && recorded != shared {
		return formError(recorded)
	}
	return nil
}

func formError(recordedShared bool) error {
	if recordedShared {
		return invalid("this account is shared: authenticate with a memo or a muxed account")
	}
	return invalid("this account is not shared: authenticate without a memo or muxed account")
}

// Token exchanges a signed challenge (base64 XDR) for a JWT (stellar-seps.md 3.2). Errors
// are *RequestError (400), ErrLedgerUnavailable (503) or internal.
func (a *Auth) Token(ctx context.Context, transaction string) (string, error) {
	now := a.now()
	c, err := a.readChallenge(transaction, now)
	if err != nil {
		return "", err
	}
	var acct *LedgerAccount
	if a.ledger != nil {
		la, err := a.ledger.Account(ctx, c.account)
		switch {
		case err == nil:
			acct = &la
		case errors.Is(err, ErrAccountNotFound):
		default:
			a.log.WarnContext(ctx, "stellar: ledger lookup failed; refusing authentication", "err", err)
			return "", fmt.Errorf("%w: %v", ErrLedgerUnavailable, err)
		}
	}
	if err := a.verifySignatures(c, acct); err != nil {
		return "", err
	}
	shared := c.memo != ""
	err = a.redemptions.Redeem(ctx, Redemption{
		Hash:      c.hashHex(),
		Account:   c.account,
		Shared:    shared,
		KeepUntil: c.maxTime.Add(minTimeSkew),
		Now:       now,
	})
	switch {
	case errors.Is(err, ErrChallengeUsed):
		return "", invalid("challenge has already been used")
	case errors.Is(err, ErrAccountForm):
		return "", formError(!shared)
	case err != nil:
		return "", fmt.Errorf("stellar: redeem challenge: %w", err)
	}
	return a.issue(a.tokenClaims(c, now))
}
