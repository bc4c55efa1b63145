package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Console operator roles (ConsoleOperator.Role).
const (
	// RoleViewer sees lists and states, never personal data, and cannot act.
	RoleViewer = "viewer"
	// RoleOperator may act (decide, replay, enable/disable, reprocess) and reveal personal data.
	RoleOperator = "operator"
	// RoleAdmin is an operator; the admin token signs in as "admin" with this role.
	RoleAdmin = "admin"
)

// Console configures the operator console served under /console/ on the admin listener.
type Console struct {
	// Disabled turns the console off (it is on by default: the admin listener is private).
	Disabled bool `yaml:"disabled"`
	// IdleTimeout signs a browser out after this long without a request. Default 30m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxAge signs a browser out this long after sign-in, active or not. Default 12h.
	MaxAge time.Duration `yaml:"max_age"`
	// Operators sign in with their own token (besides the admin token, which signs in as
	// "admin" with the admin role).
	Operators []ConsoleOperator `yaml:"operators"`
	// SignInLimit bounds failed sign-ins; beyond it sign-in answers 429 for a while.
	SignInLimit ConsoleSignInLimit `yaml:"sign_in_limit"`
}

// ConsoleSignInLimit bounds failed console sign-ins within a sliding window, counted from
// the audit log (so every instance agrees). Zero values take the defaults; a negative
// count turns that limit off.
type ConsoleSignInLimit struct {
	// PerAddress is how many failures one source address may have. Default 10.
	PerAddress int `yaml:"per_address"`
	// Total is how many failures all addresses together may have. Default 100.
	Total int `yaml:"total"`
	// Window is how far back failures count. Default 15m.
	Window time.Duration `yaml:"window"`
}

// ConsoleOperator is one person who may sign in to the console.
type ConsoleOperator struct {
	// Name is shown in the console and written in the audit log.
	Name string `yaml:"name"`
	// Role is viewer, operator or admin.
	Role string `yaml:"role"`
	// TokenSHA256 is the hex SHA-256 of the operator's token (the token itself is never
	// stored): `printf %s "$TOKEN" | sha256sum`. Tokens should be at least 24 random characters.
	TokenSHA256 string `yaml:"token_sha256"`
}

// WithDefaults fills in the defaults documented on each field.
func (c Console) WithDefaults() Console {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 12 * time.Hour
	}
	return c
}

func (c Console) validate() error {
	var errs []error
	if c.IdleTimeout < 0 {
		errs = append(errs, errors.New("console.idle_timeout: must not be negative"))
	}
	if c.MaxAge < 0 {
		errs = append(errs, errors.New("console.max_age: must not be negative"))
	}
	if c.SignInLimit.Window < 0 {
		errs = append(errs, errors.New("console.sign_in_limit.window: must not be negative"))
	}
	names := map[string]bool{"admin": true}
	hashes := map[string]bool{}
	for i, o := range c.Operators {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("console.operators[%d]."+format, append([]any{i}, a...)...))
		}
		switch {
		case o.Name == "":
			bad("name: required")
		case names[o.Name]:
			bad("name: %q is taken (\"admin\" is the admin token's)", o.Name)
		}
		names[o.Name] = true
		switch o.Role {
		case RoleViewer, RoleOperator, RoleAdmin:
		default:
			bad("role: %q is not viewer, operator or admin", o.Role)
		}
		if b, err := hex.DecodeString(o.TokenSHA256); err != nil || len(b) != 32 {
			bad("token_sha256: not 64 hex digits (printf %%s \"$TOKEN\" | sha256sum)")
		} else if hashes[o.TokenSHA256] {
			bad("token_sha256: two operators share a token")
		}
		hashes[o.TokenSHA256] = true
	}
	return errors.Join(errs...)
}
