package callback

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Business event envelopes (Business.Format).
const (
	// EnvelopeAnchorPlatform wraps events as Anchor Platform's POST /event body:
	// {"id","type","timestamp","payload"} (anchor-platform-compat.md section 6).
	EnvelopeAnchorPlatform = "anchor_platform"
	// EnvelopeStandardWebhooks wraps events as {"type","timestamp","data"}.
	EnvelopeStandardWebhooks = "standard_webhooks"
)

// Authentication of calls to a business server (Auth.Type), Anchor Platform's
// callback_api.auth.type values.
const (
	AuthNone   = "none"
	AuthAPIKey = "api_key"
	AuthJWT    = "jwt"
)

// Options configure an Engine. Every field is used as given: the defaults have one home,
// internal/config, whose Load returns them filled in, so New refuses a value the engine
// cannot run with rather than guessing one.
type Options struct {
	// Workers is the number of deliveries in flight per instance.
	Workers int
	// PollInterval is how often an idle instance looks for due deliveries (committed work
	// of this instance wakes it at once).
	PollInterval time.Duration
	// ConnectTimeout bounds TCP (and TLS) setup; Timeout bounds one whole attempt.
	ConnectTimeout time.Duration
	Timeout        time.Duration
	// MaxResponseBytes is how much of a response body is read and kept.
	MaxResponseBytes int
	// RetrySchedule is the delays before the 2nd, 3rd, … attempt; Jitter spreads each by
	// ± this share (0 or negative: none); ThrottleFloor is the least delay after a timeout or a 429.
	RetrySchedule []time.Duration
	Jitter        float64
	ThrottleFloor time.Duration
	// Lease is how long an instance owns a delivery it is sending; it must exceed Timeout.
	Lease time.Duration
	// CircuitThreshold consecutive failed attempts open an endpoint's circuit for
	// CircuitCooldown, doubling up to CircuitMaxCooldown; DisableAfter of failures only
	// disables the endpoint.
	CircuitThreshold   int
	CircuitCooldown    time.Duration
	CircuitMaxCooldown time.Duration
	DisableAfter       time.Duration
	// Retention is how long delivered deliveries are kept; negative keeps everything.
	Retention time.Duration
	// AllowCIDRs are the operator's destinations reachable despite the SSRF guard (the
	// business endpoint, configured URLs); WalletAllowCIDRs those of wallet-registered
	// callback URLs.
	AllowCIDRs       []string
	WalletAllowCIDRs []string
	// Business is the business server's event endpoint; off when its URL is empty.
	Business Business
	// Destinations are the operator's named webhook destinations for the publish API.
	Destinations []Destination
	// SigningSeed is the Stellar SIGNING_KEY secret (S…) signing wallet callbacks; empty
	// refuses wallet callbacks.
	SigningSeed string
	// Logger may be nil (discarded); Registerer may be nil (no metrics).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Business is where business events go and how they are wrapped and signed.
type Business struct {
	URL string
	// Format is EnvelopeAnchorPlatform or EnvelopeStandardWebhooks.
	Format string
	Auth   Auth
	// WebhookSecrets sign with Standard Webhooks (whsec_… or whsk_…); empty sends no
	// webhook-signature.
	WebhookSecrets []string
}

// Destination is a webhook destination the operator configured for the publish API: a
// message published to its ID is sent to URL byte for byte, signed with Standard Webhooks
// (webhook-id, webhook-timestamp, webhook-signature) with every secret of WebhookSecrets, as
// Svix, Convoy and Outpost sign a destination registered with a secret. It is dialled under
// the internal SSRF scope (AllowCIDRs), like the business endpoint.
type Destination struct {
	// ID names it in publications and is its endpoint id: 1-64 of a-z 0-9 _ -, starting
	// with a letter; not "business", not starting with "wal_" (wallet endpoints' ids).
	ID  string
	URL string
	// WebhookSecrets are whsec_… (v1, HMAC-SHA256) or whsk_… (v1a, ed25519) secrets; at least
	// one; more than one during a rotation.
	WebhookSecrets []string
}

var destinationIDRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// check returns why d cannot be used, or nil.
func (d Destination) check() error {
	switch {
	case !destinationIDRE.MatchString(d.ID) || d.ID == DestinationBusiness || strings.HasPrefix(d.ID, "wal_"):
		return fmt.Errorf("destination id %q: want 1-64 of a-z 0-9 _ - starting with a letter, not %q and not starting with wal_", d.ID, DestinationBusiness)
	case !isHTTPURL(d.URL):
		return fmt.Errorf("destination %s: url %q is not an absolute http(s) URL", d.ID, d.URL)
	case len(d.WebhookSecrets) == 0:
		return fmt.Errorf("destination %s: no webhook secret", d.ID)
	}
	return nil
}

// Auth is the header authenticating calls to a business server (events here, customer
// calls in kyc): Anchor Platform's callback_api.auth.
type Auth struct {
	// Type is AuthNone, AuthAPIKey (X-Api-Key) or AuthJWT (HS256 bearer).
	Type   string
	Secret string
	// Lifetime is the JWT's.
	Lifetime time.Duration
}

// Signer returns the signer adding a's header; AuthNone adds nothing.
func (a Auth) Signer() Signer {
	switch a.Type {
	case AuthAPIKey:
		return APIKey{Secret: a.Secret}
	case AuthJWT:
		return APJWT{Secret: []byte(a.Secret), Lifetime: a.Lifetime}
	}
	return Signers{}
}

// check refuses what the engine cannot run with (config reports the same problems, by key,
// before anything starts; this guards other callers).
func (o *Options) check() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.Workers < 1 {
		bad("workers: %d, want at least 1", o.Workers)
	}
	for name, d := range map[string]time.Duration{"poll interval": o.PollInterval, "connect timeout": o.ConnectTimeout,
		"timeout": o.Timeout, "lease": o.Lease, "circuit cooldown": o.CircuitCooldown,
		"circuit max cooldown": o.CircuitMaxCooldown, "disable after": o.DisableAfter} {
		if d <= 0 {
			bad("%s: %v, want a positive duration", name, d)
		}
	}
	if o.Lease <= o.Timeout {
		bad("lease %v must exceed timeout %v", o.Lease, o.Timeout)
	}
	if o.MaxResponseBytes < 1 || o.CircuitThreshold < 1 {
		bad("max response bytes and circuit threshold must be positive")
	}
	if len(o.RetrySchedule) == 0 {
		bad("retry schedule: empty")
	}
	for _, s := range o.RetrySchedule {
		if s <= 0 {
			bad("retry schedule: delays must be positive")
			break
		}
	}
	if o.Jitter >= 1 {
		bad("jitter: %v, want below 1", o.Jitter)
	}
	if b := o.Business; b.URL != "" {
		if b.Format != EnvelopeAnchorPlatform && b.Format != EnvelopeStandardWebhooks {
			bad("business format: %q, want %s or %s", b.Format, EnvelopeAnchorPlatform, EnvelopeStandardWebhooks)
		}
		switch b.Auth.Type {
		case AuthNone:
		case AuthAPIKey, AuthJWT:
			if b.Auth.Secret == "" {
				bad("business auth: type %s needs a secret", b.Auth.Type)
			}
		default:
			bad("business auth type: %q, want none, api_key or jwt", b.Auth.Type)
		}
	}
	ids := map[string]bool{}
	for _, d := range o.Destinations {
		if err := d.check(); err != nil {
			errs = append(errs, err)
		}
		if ids[d.ID] {
			bad("destination id %q: configured twice", d.ID)
		}
		ids[d.ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("callback: options: %w", err)
	}
	return nil
}
