package rpc

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vaspgate/vaspgate/internal/config"
)

// authenticator checks the business's credentials, as Anchor Platform's platform_api.auth.
type authenticator struct {
	typ    string
	secret []byte
}

func newAuthenticator(a config.RPCAuth) (authenticator, error) {
	switch a.Type {
	case config.AuthNone, "":
		return authenticator{typ: config.AuthNone}, nil
	case config.AuthAPIKey, config.AuthJWT:
		if a.Secret == "" {
			return authenticator{}, fmt.Errorf("rpc: auth type %s needs a secret", a.Type)
		}
		return authenticator{typ: a.Type, secret: []byte(a.Secret)}, nil
	}
	return authenticator{}, fmt.Errorf("rpc: auth type %q is not none, api_key or jwt", a.Type)
}

var (
	errMissingCredentials = errors.New("missing credentials")
	errBadCredentials     = errors.New("invalid credentials")
)

func (a authenticator) check(r *http.Request) error {
	switch a.typ {
	case config.AuthAPIKey:
		key := r.Header.Get("X-Api-Key")
		if key == "" {
			return errMissingCredentials
		}
		if subtle.ConstantTimeCompare([]byte(key), a.secret) != 1 {
			return errBadCredentials
		}
	case config.AuthJWT:
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			return errMissingCredentials
		}
		_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return a.secret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
		if err != nil {
			return errBadCredentials
		}
	}
	return nil
}
