package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Business event envelopes (Callback.Business.Format).
const (
	// EnvelopeAnchorPlatform wraps events as Anchor Platform's POST /event body:
	// {"id","type","timestamp","payload"} (anchor-platform-compat.md section 6).
	EnvelopeAnchorPlatform = "anchor_platform"
	// EnvelopeStandardWebhooks wraps events as {"type","timestamp","data"}.
	EnvelopeStandardWebhooks = "standard_webhooks"
)

// Business callback API authentication (Callback.Business.Auth.Type).
const (
	AuthNone   = "none"
	AuthAPIKey = "api_key"
	AuthJWT    = "jwt"
)

// Callback configures the delivery engine: every outbound callback (wallets, business
// events) goes through it. Zero values mean the defaults documented on each field.
type Callback struct {
	// Workers is the number of deliveries in flight per instance. Default 256: an
	// attempt mostly waits on the network, and a wallet 100 ms away holds a worker for
	// 100 ms, so fewer workers cap throughput long before the database does.
	Workers int `yaml:"workers"`
	// PollInterval is how often an idle instance looks for due deliveries (committed work
	// of this instance wakes it at once). Default 50ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// ConnectTimeout bounds TCP (and TLS) setup. Default 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Timeout bounds one whole attempt. Default 15s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxResponseBytes is how much of a response body is read and kept. Default 16384.
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// RetrySchedule is the delays before the 2nd, 3rd, … attempt. Default Svix's:
	// 5s, 5m, 30m, 2h, 5h, 10h, 10h.
	RetrySchedule []time.Duration `yaml:"retry_schedule"`
	// Jitter spreads each delay by ± this share. Default 0.2; negative disables.
	Jitter float64 `yaml:"jitter"`
	// ThrottleFloor is the least delay after a timeout or a 429. Default 60s.
	ThrottleFloor time.Duration `yaml:"throttle_floor"`
	// Lease is how long an instance owns a delivery it is sending; a crashed instance's
	// delivery is retried after it. Must exceed Timeout. Default 60s.
	Lease time.Duration `yaml:"lease"`
	// CircuitThreshold is the count of consecutive failed attempts that opens an endpoint's
	// circuit. Default 5.
	CircuitThreshold int `yaml:"circuit_threshold"`
	// CircuitCooldown is how long an open circuit pauses its endpoint before one probe; it
	// doubles on each failed probe up to CircuitMaxCooldown. Defaults 30s and 10m.
	CircuitCooldown    time.Duration `yaml:"circuit_cooldown"`
	CircuitMaxCooldown time.Duration `yaml:"circuit_max_cooldown"`
	// DisableAfter disables an endpoint that has only failed for this long. Default 120h.
	DisableAfter time.Duration `yaml:"disable_after"`
	// Retention is how long delivered deliveries and their attempts are kept; dead letters
	// (failed) are kept until replayed or removed by an operator. Default 720h (30 days);
	// negative keeps everything.
	Retention time.Duration `yaml:"retention"`
	// AllowCIDRs are destinations reachable despite the SSRF guard for what the operator
	// configured: the business endpoint, the publish API's destinations, the clients' callback
	// URLs, the KYC business server and the Travel Rule enclave (internal partners; 127.0.0.0/8 in development and tests,
	// 127.0.0.1/32 for an enclave beside vaspgate). Wallet-registered URLs never get them
	// (WalletAllowCIDRs).
	AllowCIDRs []string `yaml:"allow_cidrs"`
	// WalletAllowCIDRs are destinations reachable despite the SSRF guard by callback URLs
	// that wallets register (SEP-6 on_change_callback, SEP-12 callback), which allow_cidrs
	// never opens: loopback for a wallet on the developer's machine. Development only:
	// production refuses it. Env VASPGATE_CALLBACK_WALLET_ALLOW_CIDRS (comma-separated).
	WalletAllowCIDRs []string `yaml:"wallet_allow_cidrs"`
	// Business is the business server's event endpoint; off when its URL is empty.
	Business CallbackBusiness `yaml:"business"`
	// Destinations are named webhook destinations for the publish API (POST
	// /admin/v1/messages with "destination": "<id>"): the payload is sent byte for byte,
	// signed with Standard Webhooks. None by default.
	Destinations []CallbackDestination `yaml:"destinations"`
}

// CallbackDestination is one webhook destination of the publish API, configured as a
// webhook service's destination is registered: a URL and its signing secret.
type CallbackDestination struct {
	// ID names the destination in published messages and is its endpoint id in the
	// deliveries, endpoints and console: 1-64 of a-z 0-9 _ -, starting with a letter, not
	// "business" and not starting with "wal_".
	ID string `yaml:"id"`
	// URL receives the messages, e.g. https://orders.example.com/webhooks.
	URL string `yaml:"url"`
	// WebhookSecrets sign every message with Standard Webhooks: whsec_… (v1, HMAC-SHA256,
	// 24-64 random bytes in base64) or whsk_… (v1a, ed25519); more than one during a
	// rotation. At least one.
	WebhookSecrets []string `yaml:"webhook_secrets"`
}

// destinationIDRE is the form of a destination id (callback.Destination's rule).
var destinationIDRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// CallbackBusiness is where business events go and how they are wrapped and signed.
type CallbackBusiness struct {
	// URL receives the events, e.g. http://localhost:8081/event.
	URL string `yaml:"url"`
	// Format is "anchor_platform" (default) or "standard_webhooks".
	Format string `yaml:"format"`
	// Auth is Anchor Platform's callback_api.auth.
	Auth CallbackAuth `yaml:"auth"`
	// WebhookSecrets signs with Standard Webhooks (whsec_… for v1, whsk_… for v1a); more
	// than one during a rotation. Empty sends no webhook-signature.
	WebhookSecrets []string `yaml:"webhook_secrets"`
}

// CallbackAuth is the header authenticating events to the business server.
type CallbackAuth struct {
	// Type is "none" (default), "api_key" (X-Api-Key) or "jwt" (HS256 bearer).
	Type string `yaml:"type"`
	// Secret is the API key or the JWT HMAC secret.
	Secret string `yaml:"secret"`
	// ExpirationMilliseconds is the JWT lifetime. Default 30000.
	ExpirationMilliseconds int `yaml:"expiration_milliseconds"`
}

// WithDefaults returns c with every zero value replaced by its default.
func (c Callback) WithDefaults() Callback {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Workers <= 0 {
		c.Workers = 256
	}
	def(&c.PollInterval, 50*time.Millisecond)
	def(&c.ConnectTimeout, 5*time.Second)
	def(&c.Timeout, 15*time.Second)
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 16 << 10
	}
	if len(c.RetrySchedule) == 0 {
		c.RetrySchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
			2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	}
	if c.Jitter == 0 { // negative disables it and is kept, so completing twice keeps it off
		c.Jitter = 0.2
	}
	def(&c.ThrottleFloor, 60*time.Second)
	def(&c.Lease, 60*time.Second)
	if c.CircuitThreshold <= 0 {
		c.CircuitThreshold = 5
	}
	def(&c.CircuitCooldown, 30*time.Second)
	def(&c.CircuitMaxCooldown, 10*time.Minute)
	def(&c.DisableAfter, 120*time.Hour)
	if c.Retention == 0 {
		c.Retention = 720 * time.Hour
	}
	if c.Business.Format == "" {
		c.Business.Format = EnvelopeAnchorPlatform
	}
	if c.Business.Auth.Type == "" {
		c.Business.Auth.Type = AuthNone
	}
	if c.Business.Auth.ExpirationMilliseconds <= 0 {
		c.Business.Auth.ExpirationMilliseconds = 30000
	}
	return c
}

// validate checks the section (after defaults); every problem is reported, each as
// "key: message".
func (c *Callback) validate() error {
	d := c.WithDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.Lease <= d.Timeout {
		add("callback.lease: %v must exceed callback.timeout (%v)", d.Lease, d.Timeout)
	}
	if d.Jitter >= 1 {
		add("callback.jitter: must be below 1 (0.2 is ±20 %%)")
	}
	for _, s := range d.RetrySchedule {
		if s <= 0 {
			add("callback.retry_schedule: delays must be positive")
			break
		}
	}
	for key, list := range map[string][]string{"allow_cidrs": d.AllowCIDRs, "wallet_allow_cidrs": d.WalletAllowCIDRs} {
		for _, a := range list {
			if _, err := netip.ParsePrefix(a); err != nil {
				if _, err2 := netip.ParseAddr(a); err2 != nil {
					add("callback.%s: %q is not a CIDR (example: 127.0.0.0/8)", key, a)
				}
			}
		}
	}
	b := d.Business
	if b.URL != "" {
		u, err := url.Parse(b.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("callback.business.url: %q is not an http(s) URL (example: http://localhost:8081/event)", b.URL)
		}
	}
	switch b.Format {
	case EnvelopeAnchorPlatform, EnvelopeStandardWebhooks:
	default:
		add("callback.business.format: %q, want %s or %s", b.Format, EnvelopeAnchorPlatform, EnvelopeStandardWebhooks)
	}
	switch b.Auth.Type {
	case AuthNone:
	case AuthAPIKey, AuthJWT:
		if b.Auth.Secret == "" {
			add("callback.business.auth.secret: required for auth type %s", b.Auth.Type)
		}
	default:
		add("callback.business.auth.type: %q, want none, api_key or jwt", b.Auth.Type)
	}
	for i, s := range b.WebhookSecrets {
		if !strings.HasPrefix(s, "whsec_") && !strings.HasPrefix(s, "whsk_") {
			add("callback.business.webhook_secrets[%d]: want a whsec_ or whsk_ prefix", i)
		}
	}
	ids := map[string]bool{}
	for i, dst := range d.Destinations {
		if !destinationIDRE.MatchString(dst.ID) || dst.ID == "business" || strings.HasPrefix(dst.ID, "wal_") {
			add("callback.destinations[%d].id: %q, want 1-64 of a-z 0-9 _ - starting with a letter, not business, not starting with wal_ (example: orders)", i, dst.ID)
		} else if ids[dst.ID] {
			add("callback.destinations[%d].id: %q is configured twice", i, dst.ID)
		}
		ids[dst.ID] = true
		if u, err := url.Parse(dst.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("callback.destinations[%d].url: %q is not an http(s) URL (example: https://orders.example.com/webhooks)", i, dst.URL)
		}
		if len(dst.WebhookSecrets) == 0 {
			add("callback.destinations[%d].webhook_secrets: at least one whsec_ or whsk_ secret is required", i)
		}
		for j, s := range dst.WebhookSecrets {
			if !strings.HasPrefix(s, "whsec_") && !strings.HasPrefix(s, "whsk_") {
				add("callback.destinations[%d].webhook_secrets[%d]: want a whsec_ or whsk_ prefix", i, j)
			}
		}
	}
	return errors.Join(errs...)
}
