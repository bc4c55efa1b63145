package callbacktest_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
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

func TestVerifyStandardWebhooks(t *testing.T) {
	t.Parallel()
	// The specification's example (standard-webhooks spec and its reference libraries' tests).
	const refSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	refAt := time.Unix(1614265330, 0)
	refBody := []byte(`{"test": 2432232314}`)
	ref := http.Header{}
	ref.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	ref.Set("webhook-timestamp", "1614265330")
	ref.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	secret, raw := callbacktest.NewWebhookSecret()
	oldSecret, oldRaw := callbacktest.NewWebhookSecret()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	whpk := "whpk_" + base64.StdEncoding.EncodeToString(pub)
	now := time.Unix(1717000000, 0)
	body := []byte(`{"order":42,"amount":"10.00"}`)
	v1 := func(k []byte, id string, at time.Time, b []byte) string {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "." + string(b)))
		return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	v1a := func(id string, at time.Time, b []byte) string {
		return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(id+"."+strconv.FormatInt(at.Unix(), 10)+"."+string(b))))
	}
	headers := func(id string, at time.Time, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
		h.Set("webhook-signature", sig)
		return h
	}
	good := v1(raw, "evt_1", now, body)
	for _, tc := range []struct {
		name    string
		h       http.Header
		body    []byte
		trusted []string
		now     time.Time
		ok      bool
	}{
		{"specification example", ref, refBody, []string{refSecret}, refAt, true},
		{"specification example, body changed", ref, []byte(`{"test": 2432232315}`), []string{refSecret}, refAt, false},
		{"specification example, 6 minutes later", ref, refBody, []string{refSecret}, refAt.Add(6 * time.Minute), false},
		{"valid", headers("evt_1", now, good), body, []string{secret}, now, true},
		{"valid, 4 minutes old", headers("evt_1", now, good), body, []string{secret}, now.Add(4 * time.Minute), true},
		{"too old", headers("evt_1", now, good), body, []string{secret}, now.Add(5*time.Minute + time.Second), false},
		{"too new", headers("evt_1", now, good), body, []string{secret}, now.Add(-5*time.Minute - time.Second), false},
		{"another secret", headers("evt_1", now, good), body, []string{oldSecret}, now, false},
		{"another body", headers("evt_1", now, good), []byte(`{"order":43,"amount":"10.00"}`), []string{secret}, now, false},
		{"another id", headers("evt_2", now, good), body, []string{secret}, now, false},
		{"another timestamp", headers("evt_1", now.Add(time.Second), good), body, []string{secret}, now, false},
		{"rotation: the old signature first", headers("evt_1", now, v1(oldRaw, "evt_1", now, body)+" "+good), body, []string{secret}, now, true},
		{"rotation: the receiver trusts both", headers("evt_1", now, v1(oldRaw, "evt_1", now, body)), body, []string{secret, oldSecret}, now, true},
		{"unknown version skipped", headers("evt_1", now, "v2,AAAA "+good), body, []string{secret}, now, true},
		{"v1 value under another version", headers("evt_1", now, "v0,"+good[len("v1,"):]), body, []string{secret}, now, false},
		{"no version", headers("evt_1", now, good[len("v1,"):]), body, []string{secret}, now, false},
		{"not base64", headers("evt_1", now, "v1,***"), body, []string{secret}, now, false},
		{"ed25519", headers("evt_1", now, v1a("evt_1", now, body)), body, []string{whpk}, now, true},
		{"ed25519, body changed", headers("evt_1", now, v1a("evt_1", now, body)), []byte(`{}`), []string{whpk}, now, false},
		{"ed25519 signature, only a secret trusted", headers("evt_1", now, v1a("evt_1", now, body)), body, []string{secret}, now, false},
		{"id with a dot", headers("evt.1", now, v1(raw, "evt.1", now, body)), body, []string{secret}, now, false},
		{"no signature", headers("evt_1", now, ""), body, []string{secret}, now, false},
		{"no id", headers("", now, v1(raw, "", now, body)), body, []string{secret}, now, false},
		{"timestamp not an integer", func() http.Header {
			h := headers("evt_1", now, good)
			h.Set("webhook-timestamp", "1717000000.0")
			return h
		}(), body, []string{secret}, now, false},
		{"nothing trusted", headers("evt_1", now, good), body, nil, now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := callbacktest.VerifyStandardWebhooks(tc.h, tc.body, tc.trusted, tc.now)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
