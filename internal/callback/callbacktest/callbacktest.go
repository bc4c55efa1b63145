// Package callbacktest checks callbacks the way their receivers do, for tests anywhere in
// vaspgate. It is written from the SEPs, not from package callback's signer, so a test that
// uses it checks the signer rather than repeating it; it imports nothing from vaspgate.
package callbacktest

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stellar/go-stellar-sdk/strkey"
)

// MaxAge is how old (or how far in the future) a signature's t may be: SEP-12 asks wallets
// to refuse callbacks older than 1-2 minutes.
const MaxAge = 2 * time.Minute

// VerifyStellar checks a SEP-6/SEP-12 `Signature: t=…, s=…` header value as the reference
// wallet does (stellar-seps.md 4.7): split on ",", split items on the first "=", refuse a t
// more than MaxAge from now, verify ed25519 over "<t>.<host>.<body>" with pub. host is the
// callback URL's host, with the port when the URL spells it out.
func VerifyStellar(header, host string, body []byte, pub ed25519.PublicKey, now time.Time) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "s":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		return fmt.Errorf("no t= or s= in %q", header)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("t=%q: %v", ts, err)
	}
	if d := now.Sub(time.Unix(n, 0)); d > MaxAge || d < -MaxAge {
		return fmt.Errorf("timestamp %d is %v away", n, d)
	}
	s, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("s: %v", err)
	}
	if !ed25519.Verify(pub, []byte(ts+"."+host+"."+string(body)), s) {
		return fmt.Errorf("signature does not verify over %q", body)
	}
	return nil
}

// PublicKey decodes a G… address (a stellar.toml SIGNING_KEY) into its ed25519 key.
func PublicKey(address string) (ed25519.PublicKey, error) {
	raw, err := strkey.Decode(strkey.VersionByteAccountID, address)
	if err != nil {
		return nil, fmt.Errorf("signing key %q: %w", address, err)
	}
	return ed25519.PublicKey(raw), nil
}
