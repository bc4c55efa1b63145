package rpc

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vaspgate/vaspgate/internal/server"
)

// Authentication of the business (Auth.Type), Anchor Platform's platform_api.auth.type.
const (
	// AuthNone accepts every call: development only.
	AuthNone = "none"
	// AuthAPIKey expects the secret in X-Api-Key.
	AuthAPIKey = "api_key"
	// AuthJWT expects Authorization: Bearer <HS256 JWT with iat and exp> signed with the secret.
	AuthJWT = "jwt"
)

// Auth is the business's authentication to the JSON-RPC.
type Auth struct {
	Type   string
	Secret string
	// MaxLifetime bounds a JWT's exp - iat (type jwt): a token that lives longer is refused.
	MaxLifetime time.Duration
}

// authenticator checks the business's credentials, as Anchor Platform's platform_api.auth.
type authenticator struct {
	typ    string
	secret []byte
	// maxLifetime bounds exp - iat of a JWT.
	maxLifetime time.Duration
	// keys holds the API key (api_key), compared by server.Tokens: a plain comparison
	// would leak the key's length.
	keys server.Tokens
}

func newAuthenticator(a Auth) (authenticator, error) {
	switch a.Type {
	case AuthNone, "":
		return authenticator{typ: AuthNone}, nil
	case AuthAPIKey, AuthJWT:
		if a.Secret == "" {
			return authenticator{}, fmt.Errorf("rpc: auth type %s needs a secret", a.Type)
		}
		if a.Type == AuthJWT && a.MaxLifetime <= 0 {
			return authenticator{}, errors.New("rpc: auth type jwt needs a positive max lifetime")
		}
		return authenticator{typ: a.Type, secret: []byte(a.Secret), keys: server.NewTokens(a.Secret), maxLifetime: a.MaxLifetime}, nil
	}
	return authenticator{}, fmt.Errorf("rpc: auth type %q is not none, api_key or jwt", a.Type)
}

var (
	errMissingCredentials = errors.New("missing credentials")
	errBadCredentials     = errors.New("invalid credentials")
)

func (a authenticator) check(r *http.Request) error {
	switch a.typ {
	case AuthAPIKey:
		key := r.Header.Get("X-Api-Key")
		if key == "" {
			return errMissingCredentials
		}
		if !a.keys.Match(key) {
			return errBadCredentials
		}
	case AuthJWT:
		tok, ok := server.BearerToken(r)
		if !ok {
			return errMissingCredentials
		}
		var c jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return a.secret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
		if err != nil {
			return errBadCredentials
		}
		// iat is checked not to lie in the future, so exp - iat bounds how long from now the
		// token stays good.
		if c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > a.maxLifetime {
			return errBadCredentials
		}
	}
	return nil
}
