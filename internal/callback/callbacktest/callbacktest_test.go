package callbacktest_test

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/callback/callbacktest"
)

func TestVerifyStellar(t *testing.T) {
	t.Parallel()
	kp := keypair.MustRandom()
	pub, err := callbacktest.PublicKey(kp.Address())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1717000000, 0)
	body := []byte(`{"id":"c1","status":"ACCEPTED"}`)
	sign := func(at time.Time, host string) string {
		ts := strconv.FormatInt(at.Unix(), 10)
		sig, err := kp.Sign([]byte(ts + "." + host + "." + string(body)))
		if err != nil {
			t.Fatal(err)
		}
		return "t=" + ts + ", s=" + base64.StdEncoding.EncodeToString(sig)
	}
	tests := []struct {
		name, header, host string
		body               []byte
		ok                 bool
	}{
		{"valid", sign(now, "wallet.example.com:8443"), "wallet.example.com:8443", body, true},
		{"other host", sign(now, "wallet.example.com:8443"), "wallet.example.com", body, false},
		{"other body", sign(now, "w"), "w", []byte(`{"id":"c1","status":"REJECTED"}`), false},
		{"stale", sign(now.Add(-3*time.Minute), "w"), "w", body, false},
		{"from the future", sign(now.Add(3*time.Minute), "w"), "w", body, false},
		{"no s", "t=1717000000", "w", body, false},
		{"empty", "", "w", body, false},
	}
	for _, tt := range tests {
		if err := callbacktest.VerifyStellar(tt.header, tt.host, tt.body, pub, now); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	// A key other than the signer's never verifies.
	other, _ := callbacktest.PublicKey(keypair.MustRandom().Address())
	if err := callbacktest.VerifyStellar(sign(now, "w"), "w", body, other, now); err == nil {
		t.Error("verified with another key")
	}
	if _, err := callbacktest.PublicKey("SNOTANADDRESS"); err == nil {
		t.Error("PublicKey accepted a non-address")
	}
}
