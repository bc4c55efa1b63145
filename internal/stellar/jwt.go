package stellar

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vaspgate/vaspgate/internal/wallet"
)

// ErrInvalidToken is returned (wrapped) by Verify for a token that is missing, malformed,
// expired, not ours, or whose subject does not parse.
var ErrInvalidToken = errors.New("stellar: invalid token")

// Claims are the SEP-10 JWT claims (stellar-seps.md 3.3).
type Claims struct {
	jwt.RegisteredClaims
	// ClientDomain is set only when the challenge carried a verified client_domain.
	ClientDomain string `json:"client_domain,omitempty"`
	// HomeDomain is the home domain the challenge was issued for.
	HomeDomain string `json:"home_domain,omitempty"`
}

// jwtKey derives the HS256 key from the signing seed when no secret is configured. HMAC with
// a fixed label keeps it distinct from the seed itself, and every instance with the same seed
// derives the same key.
func jwtKey(secret, seed string) []byte {
	if secret != "" {
		return []byte(secret)
	}
	m := hmac.New(sha256.New, []byte(seed))
	m.Write([]byte("vaspgate sep10 jwt hs256"))
	return m.Sum(nil)
}

// issue signs a token for claims.
func (a *Auth) issue(c Claims) (string, error) {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.jwtKey)
	if err != nil {
		return "", fmt.Errorf("stellar: sign jwt: %w", err)
	}
	return s, nil
}

// IssueToken signs a token for sub as if a challenge had been exchanged now, with the given
// client domain (may be empty) and the primary home domain. It exists for tests of
// authenticated endpoints and for tooling; wallets get tokens from POST /auth.
func (a *Auth) IssueToken(sub, clientDomain string) (string, error) {
	if _, err := ParseSub(sub); err != nil {
		return "", err
	}
	now := a.now()
	return a.issue(Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(a.tokenTTL)),
		},
		ClientDomain: clientDomain,
		HomeDomain:   a.homeDomains[0],
	})
}

// Verify checks a SEP-10 token (signature, algorithm, issuer, expiry, subject, and that its
// home_domain is one this server serves) and returns the identity it speaks for. The home
// domain matters when a JWT secret is shared with another anchor: its tokens carry its own
// home domain and must not open this one.
func (a *Auth) Verify(token string) (wallet.Identity, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.jwtKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(a.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(minTimeSkew),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		return wallet.Identity{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if !slices.Contains(a.homeDomains, c.HomeDomain) {
		return wallet.Identity{}, fmt.Errorf("%w: home_domain %q is not served here", ErrInvalidToken, c.HomeDomain)
	}
	id, err := ParseSub(c.Subject)
	if err != nil {
		return wallet.Identity{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	id.ClientDomain = c.ClientDomain
	return id, nil
}

// tokenClaims are the claims for an exchanged challenge.
func (a *Auth) tokenClaims(c *challenge, now time.Time) Claims {
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   c.sub(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(a.tokenTTL)),
			ID:        c.hashHex(),
		},
		ClientDomain: c.clientDomain,
		HomeDomain:   c.homeDomain,
	}
}
