package callback

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignInput is what one attempt's signature covers. Body is the exact byte slice that is
// sent; signers never re-serialise it.
type SignInput struct {
	URL     *url.URL
	EventID string
	Body    []byte
	Now     time.Time
}

// Signer adds authentication headers to one attempt. A new signature is made on every
// attempt because the schemes sign the attempt time.
type Signer interface {
	Sign(h http.Header, in SignInput) error
}

// Signers applies several signers in order (e.g. an API key and Standard Webhooks headers).
type Signers []Signer

// Sign implements Signer.
func (s Signers) Sign(h http.Header, in SignInput) error {
	for _, x := range s {
		if err := x.Sign(h, in); err != nil {
			return err
		}
	}
	return nil
}

// StellarSigner signs wallet callbacks as SEP-6/SEP-12 define (stellar-seps.md 4.7):
// `Signature: t=<unix seconds>, s=<base64 ed25519>` over `<t>.<host[:port]>.<body>`.
type StellarSigner struct {
	key ed25519.PrivateKey
}

// NewStellarSigner parses the anchor's SIGNING_KEY secret seed (S…).
func NewStellarSigner(seed string) (*StellarSigner, error) {
	raw, err := decodeSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("callback: signing key: %w", err)
	}
	return &StellarSigner{key: ed25519.NewKeyFromSeed(raw)}, nil
}

// StellarSignedContent is the byte string a wallet callback signature covers.
func StellarSignedContent(t int64, u *url.URL, body []byte) []byte {
	// url.URL.Host keeps the port exactly when the URL spells it out, which is what the
	// SEP and Anchor Platform use as <host[:port]>.
	b := make([]byte, 0, len(body)+len(u.Host)+24)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, '.')
	b = append(b, u.Host...)
	b = append(b, '.')
	return append(b, body...)
}

// Sign implements Signer.
func (s *StellarSigner) Sign(h http.Header, in SignInput) error {
	t := in.Now.Unix()
	sig := ed25519.Sign(s.key, StellarSignedContent(t, in.URL, in.Body))
	h.Set("Signature", "t="+strconv.FormatInt(t, 10)+", s="+base64.StdEncoding.EncodeToString(sig))
	return nil
}

// StandardWebhooks signs with the Standard Webhooks scheme: webhook-id, webhook-timestamp and
// webhook-signature (`v1,<hmac-sha256>` for whsec_ secrets, `v1a,<ed25519>` for whsk_ keys),
// one signature per secret so receivers keep verifying during a rotation.
type StandardWebhooks struct {
	hmacKeys [][]byte
	edKeys   []ed25519.PrivateKey
}

// NewStandardWebhooks parses secrets: `whsec_<base64>` (HMAC, 24-64 bytes), `whsk_<base64>`
// (ed25519: 32-byte seed, or seed followed by public key). At least one is required.
func NewStandardWebhooks(secrets []string) (*StandardWebhooks, error) {
	if len(secrets) == 0 {
		return nil, errors.New("callback: standard webhooks: no secret")
	}
	s := &StandardWebhooks{}
	for i, sec := range secrets {
		switch {
		case strings.HasPrefix(sec, "whsec_"):
			k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_"))
			if err != nil {
				return nil, fmt.Errorf("callback: standard webhooks: secret %d: %w", i, err)
			}
			if len(k) < 24 || len(k) > 64 {
				return nil, fmt.Errorf("callback: standard webhooks: secret %d: %d bytes, want 24-64", i, len(k))
			}
			s.hmacKeys = append(s.hmacKeys, k)
		case strings.HasPrefix(sec, "whsk_"):
			k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsk_"))
			if err != nil {
				return nil, fmt.Errorf("callback: standard webhooks: key %d: %w", i, err)
			}
			switch len(k) {
			case ed25519.SeedSize:
				s.edKeys = append(s.edKeys, ed25519.NewKeyFromSeed(k))
			case ed25519.PrivateKeySize:
				s.edKeys = append(s.edKeys, ed25519.NewKeyFromSeed(k[:ed25519.SeedSize]))
			default:
				return nil, fmt.Errorf("callback: standard webhooks: key %d: %d bytes, want 32 or 64", i, len(k))
			}
		default:
			return nil, fmt.Errorf("callback: standard webhooks: secret %d: want whsec_ or whsk_ prefix", i)
		}
	}
	return s, nil
}

// Sign implements Signer.
func (s *StandardWebhooks) Sign(h http.Header, in SignInput) error {
	if err := webhookID(in.EventID); err != nil {
		return err
	}
	ts := strconv.FormatInt(in.Now.Unix(), 10)
	content := make([]byte, 0, len(in.EventID)+len(ts)+len(in.Body)+2)
	content = append(content, in.EventID...)
	content = append(content, '.')
	content = append(content, ts...)
	content = append(content, '.')
	content = append(content, in.Body...)
	sigs := make([]string, 0, len(s.hmacKeys)+len(s.edKeys))
	for _, k := range s.hmacKeys {
		m := hmac.New(sha256.New, k)
		m.Write(content)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	for _, k := range s.edKeys {
		sigs = append(sigs, "v1a,"+base64.StdEncoding.EncodeToString(ed25519.Sign(k, content)))
	}
	h.Set("webhook-id", in.EventID)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return nil
}

// webhookID refuses an event id Standard Webhooks cannot carry: the signed content is
// `<webhook-id>.<webhook-timestamp>.<body>`, so the id must not hold a '.'.
func webhookID(id string) error {
	if strings.Contains(id, ".") {
		return fmt.Errorf("%w: standard webhooks: event id %q contains '.'", ErrInvalidMessage, id)
	}
	return nil
}

// APIKey sends the Anchor Platform callback API key: `X-Api-Key: <secret>`.
type APIKey struct {
	Secret string
}

// Sign implements Signer.
func (a APIKey) Sign(h http.Header, _ SignInput) error {
	h.Set("X-Api-Key", a.Secret)
	return nil
}

// APJWT sends the Anchor Platform callback API JWT: `Authorization: Bearer <HS256>` with
// claims iat and exp (iat + Lifetime).
type APJWT struct {
	Secret   []byte
	Lifetime time.Duration
}

// Sign implements Signer.
func (a APJWT) Sign(h http.Header, in SignInput) error {
	life := a.Lifetime
	if life <= 0 {
		life = 30 * time.Second
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat": in.Now.Unix(),
		"exp": in.Now.Add(life).Unix(),
	})
	s, err := tok.SignedString(a.Secret)
	if err != nil {
		return fmt.Errorf("callback: business jwt: %w", err)
	}
	h.Set("Authorization", "Bearer "+s)
	return nil
}

// decodeSeed decodes a Stellar strkey secret seed (version byte 18<<3, 32 bytes, CRC16-XModem).
// It is a few lines of the strkey format, kept here so that signing needs no SDK import.
func decodeSeed(s string) ([]byte, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(raw) != 35 {
		return nil, errors.New("not a secret seed")
	}
	if raw[0] != 18<<3 {
		return nil, errors.New("not a secret seed (version byte)")
	}
	want := uint16(raw[33]) | uint16(raw[34])<<8
	if crc16XModem(raw[:33]) != want {
		return nil, errors.New("secret seed checksum mismatch")
	}
	return raw[1:33], nil
}

func crc16XModem(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// PublicKey returns the signer's ed25519 public key.
func (s *StellarSigner) PublicKey() ed25519.PublicKey {
	return s.key.Public().(ed25519.PublicKey)
}
