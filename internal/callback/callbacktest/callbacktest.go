// Package callbacktest checks callbacks the way their receivers do, for tests and load tools
// anywhere in vaspgate. It is written from the SEPs and the Standard Webhooks specification,
// not from package callback's signers, so a test that uses it checks the signer rather than
// repeating it; it imports nothing from vaspgate.
package callbacktest

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
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

// WebhookTolerance is how old (or how far in the future) a Standard Webhooks
// webhook-timestamp may be: the reference libraries' 5 minutes, both ways.
const WebhookTolerance = 5 * time.Minute

// VerifyStandardWebhooks checks a request's Standard Webhooks headers (standard-webhooks
// spec v1.0.0, "Verifying webhooks") against the receiver's trusted keys: `whsec_<base64>`
// secrets for `v1` (HMAC-SHA256) and `whpk_<base64>` public keys for `v1a` (ed25519), never a
// key taken from the request. The signed content is `<webhook-id>.<webhook-timestamp>.<body>`;
// webhook-signature is a space-separated list of `<version>,<base64>` of which one valid
// signature is enough (several during a key rotation); versions it does not know are skipped;
// HMACs are compared in constant time; a timestamp more than WebhookTolerance from now is
// refused (replay protection).
func VerifyStandardWebhooks(h http.Header, body []byte, trusted []string, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	if strings.Contains(id, ".") {
		return fmt.Errorf("webhook-id %q contains '.'", id)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: not an integer", ts)
	}
	switch d := now.Sub(time.Unix(n, 0)); {
	case d > WebhookTolerance:
		return fmt.Errorf("message too old (%v)", d)
	case d < -WebhookTolerance:
		return fmt.Errorf("message too new (%v)", -d)
	}
	content := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	content = append(append(append(append(append(content, id...), '.'), ts...), '.'), body...)
	var macs [][]byte
	var pubs []ed25519.PublicKey
	for _, k := range trusted {
		switch {
		case strings.HasPrefix(k, "whsec_"):
			key, err := base64.StdEncoding.DecodeString(k[len("whsec_"):])
			if err != nil {
				return fmt.Errorf("trusted secret: %w", err)
			}
			m := hmac.New(sha256.New, key)
			m.Write(content)
			macs = append(macs, m.Sum(nil))
		case strings.HasPrefix(k, "whpk_"):
			key, err := base64.StdEncoding.DecodeString(k[len("whpk_"):])
			if err != nil || len(key) != ed25519.PublicKeySize {
				return fmt.Errorf("trusted public key %q: not a base64 ed25519 key", k)
			}
			pubs = append(pubs, ed25519.PublicKey(key))
		default:
			return fmt.Errorf("trusted key %q: want whsec_ or whpk_", k)
		}
	}
	for _, vs := range strings.Split(sigs, " ") {
		ver, b64, ok := strings.Cut(vs, ",")
		if !ok {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		switch ver {
		case "v1":
			for _, m := range macs {
				if hmac.Equal(m, sig) {
					return nil
				}
			}
		case "v1a":
			for _, p := range pubs {
				if ed25519.Verify(p, content, sig) {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("no valid signature in %q", sigs)
}

// NewWebhookSecret returns a random Standard Webhooks v1 secret (whsec_ and the base64 of 32
// random bytes), as a receiver makes one to register, and its key bytes.
func NewWebhookSecret() (secret string, key []byte) {
	key = make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(key), key
}
