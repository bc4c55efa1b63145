package config

import (
	"errors"
	"fmt"
	"time"
)

// RPC configures the business JSON-RPC on the admin listener (Anchor Platform's
// platform_api and rpc sections). Zero values mean the defaults documented on each field.
type RPC struct {
	// BatchSizeLimit caps the requests of one batch (AP rpc.batch_size_limit). Default 40.
	BatchSizeLimit int `yaml:"batch_size_limit"`
	// Auth is how the business authenticates (AP platform_api.auth).
	Auth RPCAuth `yaml:"auth"`
}

// RPCAuth is the business's authentication to the JSON-RPC.
type RPCAuth struct {
	// Type is "none" (development only), "api_key" (header X-Api-Key) or "jwt"
	// (Authorization: Bearer <HS256 JWT with iat and exp>). Default none.
	Type string `yaml:"type"`
	// Secret is the API key or the JWT secret. Env VASPGATE_RPC_AUTH_SECRET, or Anchor
	// Platform's SECRET_PLATFORM_API_AUTH_SECRET.
	Secret string `yaml:"secret"`
	// MaxLifetime bounds a JWT's exp - iat (type jwt): a token that lives longer is refused,
	// so a leaked one is useful for minutes, not years. Default 5m (Anchor Platform's
	// clients make 30 s tokens).
	MaxLifetime time.Duration `yaml:"max_lifetime"`
}

// WithDefaults returns the section with defaults filled in.
func (r RPC) WithDefaults() RPC {
	if r.BatchSizeLimit == 0 {
		r.BatchSizeLimit = 40
	}
	if r.Auth.Type == "" {
		r.Auth.Type = AuthNone
	}
	if r.Auth.MaxLifetime <= 0 {
		r.Auth.MaxLifetime = 5 * time.Minute
	}
	return r
}

func (r *RPC) applyEnv(lookup func(string) (string, bool)) []Problem {
	if v, ok := lookup("SECRET_PLATFORM_API_AUTH_SECRET"); ok {
		r.Auth.Secret = v
	}
	if v, ok := lookup("VASPGATE_RPC_AUTH_SECRET"); ok {
		r.Auth.Secret = v
	}
	if v, ok := lookup("VASPGATE_RPC_AUTH_TYPE"); ok {
		r.Auth.Type = v
	}
	return nil
}

func (r *RPC) validate() error {
	d := r.WithDefaults()
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("rpc."+format, a...)) }
	if d.BatchSizeLimit < 1 || d.BatchSizeLimit > 10000 {
		bad("batch_size_limit: %d, want 1 to 10000", d.BatchSizeLimit)
	}
	switch d.Auth.Type {
	case AuthNone:
	case AuthAPIKey, AuthJWT:
		if len(d.Auth.Secret) < 16 {
			bad("auth.secret: at least 16 characters with auth type %s (env VASPGATE_RPC_AUTH_SECRET)", d.Auth.Type)
		}
	default:
		bad("auth.type: %q, want none, api_key or jwt", d.Auth.Type)
	}
	if r.Auth.MaxLifetime < 0 || d.Auth.MaxLifetime > 24*time.Hour {
		bad("auth.max_lifetime: %v, want up to 24h (example: 5m)", r.Auth.MaxLifetime)
	}
	return errors.Join(errs...)
}
