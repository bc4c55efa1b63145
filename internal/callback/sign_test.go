package callback

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/vaspgate/vaspgate/internal/callback/callbacktest"
)

// The pair and signature below were produced with the Stellar SDK (keypair.ParseFull and
// Sign) over stellar-seps.md 4.7's example string, so the signer is checked against the
// SDK, not against itself.
const (
	testSeed    = "SCZANGBA5YHTNYVVV4C3U252E2B6P6F5T3U6MM63WBSBZATAQI3EBTQ4"
	testAddress = "GC2BKLYOOYPDEFJKLKY6FNNRQMGFLVHJKQRGNSSRRGSMPGF32LHCQVGF"
	testSEPSig  = "0b4d7ae1bf2fc2bba7af706f147710d23b6777dea465a5a8fe9b9b0defdfb6d29674a33d8715b12834018a3d4468d856c623fb71b6c93691bcb3bf84720a5001"
)

// --- independent verifiers: written from the specs, sharing no code with the signers ---

// walletVerify does what stellar-seps.md 4.7 tells a wallet to do.
func walletVerify(h http.Header, expectHost string, body []byte, address string, now time.Time) error {
	v := h.Get("Signature")
	if v == "" {
		v = h.Get("X-Stellar-Signature") // the deprecated name wallets still accept
	}
	pub, err := decodeAddress(address)
	if err != nil {
		return err
	}
	return callbacktest.VerifyStellar(v, expectHost, body, pub, now)
}

func decodeAddress(a string) (ed25519.PublicKey, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a)
	if err != nil || len(raw) != 35 || raw[0] != 6<<3 {
		return nil, errors.New("bad address")
	}
	return ed25519.PublicKey(raw[1:33]), nil
}

func TestStellarSignerMatchesSDKVector(t *testing.T) {
	t.Parallel()
	s, err := NewStellarSigner(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := decodeAddress(testAddress)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(s.PublicKey()) {
		t.Fatalf("seed does not give %s", testAddress)
	}
	u, _ := url.Parse("https://wallet.example.com:8443/kyc")
	body := []byte(`{"id":"c1","status":"ACCEPTED"}`)
	h := http.Header{}
	now := time.Unix(1717000000, 0)
	if err := s.Sign(h, SignInput{URL: u, Body: body, Now: now}); err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(testSEPSig)
	if got := h.Get("Signature"); got != "t=1717000000, s="+base64.StdEncoding.EncodeToString(want) {
		t.Fatalf("Signature = %q", got)
	}
	if err := walletVerify(h, "wallet.example.com:8443", body, testAddress, now); err != nil {
		t.Fatal(err)
	}
	// Without an explicit port the host alone is signed.
	u2, _ := url.Parse("https://wallet.example.com/kyc")
	h2 := http.Header{}
	_ = s.Sign(h2, SignInput{URL: u2, Body: body, Now: now})
	if err := walletVerify(h2, "wallet.example.com", body, testAddress, now); err != nil {
		t.Fatal(err)
	}
	if err := walletVerify(h2, "wallet.example.com:443", body, testAddress, now); err == nil {
		t.Fatal("verified against the wrong host")
	}
	if err := walletVerify(h2, "wallet.example.com", append(body, ' '), testAddress, now); err == nil {
		t.Fatal("verified a changed body")
	}
	if err := walletVerify(h2, "wallet.example.com", body, testAddress, now.Add(10*time.Minute)); err == nil {
		t.Fatal("verified a stale signature")
	}
}

func TestNewStellarSignerRejectsBadSeeds(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", testAddress, testSeed[:55] + "A", "not base32"} {
		if _, err := NewStellarSigner(s); err == nil {
			t.Errorf("NewStellarSigner(%q) accepted", s)
		}
	}
}

func TestStandardWebhooksReferenceVector(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	s, err := NewStandardWebhooks([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	body := []byte(`{"test": 2432232314}`)
	now := time.Unix(1614265330, 0)
	if err := s.Sign(h, SignInput{EventID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Body: body, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Get("webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if err := callbacktest.VerifyStandardWebhooks(h, body, []string{secret}, now); err != nil {
		t.Fatal(err)
	}
	if err := callbacktest.VerifyStandardWebhooks(h, body, []string{secret}, now.Add(6*time.Minute)); err == nil {
		t.Fatal("accepted an old message")
	}
}

func TestStandardWebhooksRotationAndEd25519(t *testing.T) {
	t.Parallel()
	oldSec, _ := callbacktest.NewWebhookSecret()
	newSec, _ := callbacktest.NewWebhookSecret()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	whsk := "whsk_" + base64.StdEncoding.EncodeToString(priv) // seed followed by public key
	whpk := "whpk_" + base64.StdEncoding.EncodeToString(pub)

	s, err := NewStandardWebhooks([]string{newSec, oldSec, whsk})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"a.b","timestamp":"2026-01-01T00:00:00Z","data":{}}`)
	now := time.Now()
	h := http.Header{}
	if err := s.Sign(h, SignInput{EventID: "evt_1", Body: body, Now: now}); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(h.Get("webhook-signature"))); n != 3 {
		t.Fatalf("%d signatures, want 3", n)
	}
	for _, trusted := range [][]string{{oldSec}, {newSec}, {whpk}} {
		if err := callbacktest.VerifyStandardWebhooks(h, body, trusted, now); err != nil {
			t.Errorf("trusted %v: %v", trusted, err)
		}
	}
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	if err := callbacktest.VerifyStandardWebhooks(h, body, []string{"whsec_" + base64.StdEncoding.EncodeToString(other)}, now); err == nil {
		t.Error("verified with an untrusted secret")
	}
	if err := s.Sign(http.Header{}, SignInput{EventID: "a.b", Body: body, Now: now}); err == nil {
		t.Error("signed an id containing '.'")
	}
	for _, bad := range [][]string{nil, {"nope"}, {"whsec_!!"}, {"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 8))}, {"whsk_AAAA"}} {
		if _, err := NewStandardWebhooks(bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

func TestAnchorPlatformAuth(t *testing.T) {
	t.Parallel()
	now := time.Now()
	h := http.Header{}
	_ = APIKey{Secret: "k1"}.Sign(h, SignInput{Now: now})
	if h.Get("X-Api-Key") != "k1" {
		t.Fatalf("X-Api-Key = %q", h.Get("X-Api-Key"))
	}
	secret := []byte("a-secret-of-enough-length-for-hs256")
	if err := (APJWT{Secret: secret, Lifetime: 30 * time.Second}).Sign(h, SignInput{Now: now}); err != nil {
		t.Fatal(err)
	}
	raw, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatal("no bearer token")
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuedAt())
	if err != nil || !tok.Valid {
		t.Fatalf("token does not verify: %v", err)
	}
	exp, _ := claims.GetExpirationTime()
	iat, _ := claims.GetIssuedAt()
	if exp.Sub(iat.Time) != 30*time.Second {
		t.Fatalf("lifetime %v", exp.Sub(iat.Time))
	}
	if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte("other"), nil }); err == nil {
		t.Fatal("verified with another secret")
	}
}
