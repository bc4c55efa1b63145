package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Tokens is a set of accepted secret tokens (an admin token, an API key, an enclave's
// tokens during a rotation). Match compares SHA-256 digests in constant time against every
// token, so neither the content, the length nor which token matched leaks through timing.
// It is the one home of secret-token comparison: every check of a presented secret uses it.
type Tokens struct {
	hashes [][sha256.Size]byte
}

// NewTokens returns the set of the non-empty tokens given; an empty set matches nothing.
func NewTokens(tokens ...string) Tokens {
	var t Tokens
	for _, tok := range tokens {
		if tok != "" {
			t.hashes = append(t.hashes, sha256.Sum256([]byte(tok)))
		}
	}
	return t
}

// Empty reports whether the set holds no token.
func (t Tokens) Empty() bool { return len(t.hashes) == 0 }

// Match reports whether got is one of the tokens. The empty string never matches.
func (t Tokens) Match(got string) bool {
	if got == "" {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	match := 0
	for _, want := range t.hashes {
		match |= subtle.ConstantTimeCompare(sum[:], want[:])
	}
	return match == 1
}

// BearerToken returns the token of an `Authorization: Bearer …` header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
