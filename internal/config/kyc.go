package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// KYC back ends (KYC.Backend).
const (
	// KYCBuiltin keeps customers in vaspgate's database, encrypted at rest, with an operator
	// decision through the admin API.
	KYCBuiltin = "builtin"
	// KYCBusiness proxies every customer call to an Anchor Platform business server's
	// GET/PUT/DELETE /customer (anchor-platform-compat.md section 5).
	KYCBusiness = "business"
)

// KYC configures SEP-12. Zero values mean the defaults documented on each field.
type KYC struct {
	// Backend is "builtin" (default) or "business".
	Backend string `yaml:"backend"`
	// AutoAccept (builtin, development only) accepts a customer as soon as every required
	// field is provided, instead of waiting for an operator decision in PROCESSING.
	AutoAccept bool `yaml:"auto_accept"`
	// Types are the customer types (sep6, sep31-sender, …) and, for the builtin back end, the
	// SEP-9 fields each requires. Default: one type "sep6" asking for first_name, last_name
	// and email_address.
	Types map[string]KYCType `yaml:"types"`
	// Business is the Anchor Platform callback API of the business server (backend business).
	Business KYCBusinessServer `yaml:"business"`
	// VerificationFields (builtin) are SEP-9 fields that need a confirmation code, e.g.
	// mobile_number: once sent, the field is VERIFICATION_REQUIRED and a 6-digit code goes to
	// the business server as a customer_verification_code event (it delivers it to the
	// customer, by SMS or email); the wallet sends it back as <field>_verification.
	VerificationFields []string `yaml:"verification_fields"`
	// UnrequestedFields (builtin) is what happens to a standard SEP-9 field a wallet sends
	// that no customer type asks for: "drop" (default: personal data not asked for is not
	// kept) or "store" (sealed like every other field). Either way the request succeeds; a
	// name that is not SEP-9 and not asked for is refused.
	UnrequestedFields string `yaml:"unrequested_fields"`
	// CallbackHTTPHosts lists host[:port] values a wallet may register with a plain http://
	// callback URL (development only); every other callback URL must be https. The SSRF guard
	// (wallet scope: callback.wallet_allow_cidrs) still applies to all of them.
	CallbackHTTPHosts []string `yaml:"callback_http_hosts"`
	// MaxFileSize bounds one uploaded file (POST /customer/files) and one binary field.
	// Default 10 MiB.
	MaxFileSize int64 `yaml:"max_file_size"`
	// FileTTL is how long an uploaded file that no PUT /customer references is kept.
	// Default 24h.
	FileTTL time.Duration `yaml:"file_ttl"`
}

// Values of KYC.UnrequestedFields.
const (
	UnrequestedDrop  = "drop"
	UnrequestedStore = "store"
)

// KYCType is one customer type: the SEP-9 fields it asks for.
type KYCType struct {
	Fields map[string]KYCField `yaml:"fields"`
}

// KYCField describes one SEP-9 field as GET /customer publishes it.
type KYCField struct {
	// Type is string (default), binary, number or date.
	Type        string   `yaml:"type"`
	Description string   `yaml:"description"`
	Choices     []string `yaml:"choices"`
	Optional    bool     `yaml:"optional"`
}

// KYCBusinessServer is Anchor Platform's callback_api.
type KYCBusinessServer struct {
	// BaseURL is the business server, e.g. http://localhost:8081 (AP's default).
	BaseURL string `yaml:"base_url"`
	// Auth is callback_api.auth: none, api_key (X-Api-Key) or jwt (HS256 bearer).
	Auth CallbackAuth `yaml:"auth"`
	// Timeout bounds one call to the business server. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// applyEnv reads the KYC keys that are set per deployment or are secrets.
func (k *KYC) applyEnv(lookup func(string) (string, bool)) []Problem {
	var probs []Problem
	if v, ok := lookup("VASPGATE_KYC_BACKEND"); ok {
		k.Backend = v
	}
	if v, ok := lookup("VASPGATE_KYC_AUTO_ACCEPT"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			probs = append(probs, Problem{"kyc.auto_accept (VASPGATE_KYC_AUTO_ACCEPT)", "not a boolean: " + strconv.Quote(v), "false"})
		}
		k.AutoAccept = b
	}
	if v, ok := lookup("VASPGATE_KYC_BUSINESS_BASE_URL"); ok {
		k.Business.BaseURL = v
	}
	if v, ok := lookup("VASPGATE_KYC_BUSINESS_AUTH_TYPE"); ok {
		k.Business.Auth.Type = v
	}
	// Anchor Platform's name for the callback API secret, then ours.
	if v, ok := lookup("SECRET_CALLBACK_API_AUTH_SECRET"); ok {
		k.Business.Auth.Secret = v
	}
	if v, ok := lookup("VASPGATE_KYC_BUSINESS_AUTH_SECRET"); ok {
		k.Business.Auth.Secret = v
	}
	return probs
}

var sep9Name = regexp.MustCompile(`^[a-z][a-z0-9_.]*$`)

// WithDefaults returns k with every zero value replaced by its default.
func (k KYC) WithDefaults() KYC {
	if k.Backend == "" {
		k.Backend = KYCBuiltin
	}
	if len(k.Types) == 0 {
		k.Types = map[string]KYCType{"sep6": {Fields: map[string]KYCField{
			"first_name":    {Type: "string", Description: "first name"},
			"last_name":     {Type: "string", Description: "last name"},
			"email_address": {Type: "string", Description: "email address"},
		}}}
	}
	types := make(map[string]KYCType, len(k.Types))
	for name, t := range k.Types {
		fields := make(map[string]KYCField, len(t.Fields))
		for fn, f := range t.Fields {
			if f.Type == "" {
				f.Type = "string"
			}
			if f.Description == "" {
				f.Description = strings.ReplaceAll(fn, "_", " ")
			}
			fields[fn] = f
		}
		types[name] = KYCType{Fields: fields}
	}
	k.Types = types
	if k.MaxFileSize <= 0 {
		k.MaxFileSize = 10 << 20
	}
	if k.UnrequestedFields == "" {
		k.UnrequestedFields = UnrequestedDrop
	}
	if k.FileTTL <= 0 {
		k.FileTTL = 24 * time.Hour
	}
	if k.Business.Auth.Type == "" {
		k.Business.Auth.Type = AuthNone
	}
	if k.Business.Auth.ExpirationMilliseconds <= 0 {
		k.Business.Auth.ExpirationMilliseconds = 30000
	}
	if k.Business.Timeout <= 0 {
		k.Business.Timeout = 10 * time.Second
	}
	return k
}

// validate checks the section (after defaults).
func (k *KYC) validate() error {
	d := k.WithDefaults()
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("kyc."+format, a...)) }
	switch d.Backend {
	case KYCBuiltin:
	case KYCBusiness:
		u, err := url.Parse(d.Business.BaseURL)
		if d.Business.BaseURL == "" || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			bad("business.base_url: required with backend business, an http(s) URL")
		}
		switch d.Business.Auth.Type {
		case AuthNone:
		case AuthAPIKey, AuthJWT:
			if d.Business.Auth.Secret == "" {
				bad("business.auth.secret: required for auth type %s (env VASPGATE_KYC_BUSINESS_AUTH_SECRET)", d.Business.Auth.Type)
			}
		default:
			bad("business.auth.type: %q, want none, api_key or jwt", d.Business.Auth.Type)
		}
	default:
		bad("backend: %q, want %s or %s", d.Backend, KYCBuiltin, KYCBusiness)
	}
	if d.UnrequestedFields != UnrequestedDrop && d.UnrequestedFields != UnrequestedStore {
		bad("unrequested_fields: %q, want %s or %s", d.UnrequestedFields, UnrequestedDrop, UnrequestedStore)
	}
	for name, t := range d.Types {
		if name == "" || strings.ContainsAny(name, " /?&") {
			bad("types: %q is not a usable type name", name)
		}
		for fn, f := range t.Fields {
			if !sep9Name.MatchString(fn) {
				bad("types.%s.fields: %q is not a SEP-9 field name", name, fn)
			}
			switch f.Type {
			case "string", "binary", "number", "date":
			default:
				bad("types.%s.fields.%s.type: %q, want string, binary, number or date", name, fn, f.Type)
			}
		}
	}
	for _, f := range d.VerificationFields {
		known := false
		for _, t := range d.Types {
			if fd, ok := t.Fields[f]; ok {
				known = true
				if fd.Type == "binary" {
					bad("verification_fields: %q is binary; a code confirms text fields only", f)
				}
			}
		}
		if !known {
			bad("verification_fields: %q is not a field of any type", f)
		}
	}
	for _, h := range d.CallbackHTTPHosts {
		if h == "" || strings.ContainsAny(h, "/ ") {
			bad("callback_http_hosts: %q must be host[:port]", h)
		}
	}
	return errors.Join(errs...)
}
