// Package seal encrypts personal data at rest (KYC fields, IVMS101, raw callback bodies) with
// AES-256-GCM.
//
// Every sealed value names the key that sealed it, so keys can be rotated: configure the new
// key as current and keep the old ones for opening until every value has been resealed or
// has expired. Callers pass associated data (typically the row's id and column) so a sealed
// value copied into another row does not open.
//
// Layout of a sealed value: version (1 byte, 1) | key id (4 bytes) | nonce (12) | ciphertext+tag.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// KeySize is the length of an encryption key in bytes.
const KeySize = 32

const (
	version    = 1
	headerSize = 1 + 4
	nonceSize  = 12
)

// ErrOpen is returned when a value cannot be opened: it was tampered with, sealed under
// other associated data, or sealed with a key that is not configured.
var ErrOpen = errors.New("seal: cannot open value (tampered, wrong context, or unknown key)")

// Keyring seals with its current key and opens with any of its keys.
type Keyring struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
}

// KeyID returns the identifier stored in values sealed with key.
func KeyID(key []byte) uint32 {
	sum := sha256.Sum256(append([]byte("vaspgate seal key id\x00"), key...))
	return binary.BigEndian.Uint32(sum[:4])
}

// New returns a keyring that seals with current and also opens values sealed with any of old.
func New(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: make(map[uint32]cipher.AEAD, 1+len(old))}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("seal: key %d is %d bytes, want %d", i, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		id := KeyID(key)
		if i == 0 {
			k.current = id
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// ParseKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("key is %d bytes after base64 decoding, want %d", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("key is not valid base64")
}

// NewKey returns a random key, base64-encoded as ParseKey expects.
func NewKey() string {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("seal: no randomness: %v", err))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Seal encrypts plaintext, binding it to ad (associated data, not secret, not stored).
func (k *Keyring) Seal(plaintext, ad []byte) ([]byte, error) {
	aead := k.aeads[k.current]
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plaintext)+aead.Overhead())
	out[0] = version
	binary.BigEndian.PutUint32(out[1:5], k.current)
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return aead.Seal(out, out[headerSize:], plaintext, append(out[:headerSize:headerSize], ad...)), nil
}

// Open decrypts a value made by Seal with the same ad.
func (k *Keyring) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < headerSize+nonceSize || sealed[0] != version {
		return nil, ErrOpen
	}
	aead, ok := k.aeads[binary.BigEndian.Uint32(sealed[1:5])]
	if !ok {
		return nil, ErrOpen
	}
	header := sealed[:headerSize:headerSize]
	nonce := sealed[headerSize : headerSize+nonceSize]
	plain, err := aead.Open(nil, nonce, sealed[headerSize+nonceSize:], append(header, ad...))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// NeedsReseal reports whether sealed was made with a key other than the current one, so a
// rotation job can find what to reseal.
func (k *Keyring) NeedsReseal(sealed []byte) bool {
	return len(sealed) < headerSize || binary.BigEndian.Uint32(sealed[1:5]) != k.current
}
