package sendinganchor

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
)

// The signature rule as the SEPs state it, checked against signatures made here by hand:
// "<t>.<host>.<body>" signed with ed25519 under SIGNING_KEY.
func TestVerifySignature(t *testing.T) {
	t.Parallel()
	kp := keypair.MustRandom()
	now := time.Unix(1717000000, 0)
	body := []byte(`{"transaction":{"id":"t1","status":"pending_receiver"}}`)
	sign := func(ts int64, host string, b []byte) string {
		s, err := kp.Sign([]byte(strconv.FormatInt(ts, 10) + "." + host + "." + string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return "t=" + strconv.FormatInt(ts, 10) + ", s=" + base64.StdEncoding.EncodeToString(s)
	}
	good := sign(now.Unix(), "sender.example:8443", body)
	for _, c := range []struct {
		name, header, host, key string
		body                    []byte
		want                    string // "" when it verifies; else part of the error
	}{
		{"signed for this host", good, "sender.example:8443", kp.Address(), body, ""},
		{"no header", "", "sender.example:8443", kp.Address(), body, "no Signature"},
		{"no s", "t=1717000000", "sender.example:8443", kp.Address(), body, "lacks"},
		{"another host", good, "sender.example", kp.Address(), body, "does not verify"},
		{"body changed", good, "sender.example:8443", kp.Address(), []byte(`{"transaction":{"id":"t1","status":"completed"}}`), "does not verify"},
		{"another key", good, "sender.example:8443", keypair.MustRandom().Address(), body, "does not verify"},
		{"three minutes old", sign(now.Add(-3*time.Minute).Unix(), "sender.example:8443", body), "sender.example:8443", kp.Address(), body, "away from now"},
		{"from the future", sign(now.Add(3*time.Minute).Unix(), "sender.example:8443", body), "sender.example:8443", kp.Address(), body, "away from now"},
		{"not base64", "t=1717000000, s=!!", "sender.example:8443", kp.Address(), body, "base64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := VerifySignature(c.header, c.host, c.body, c.key, now)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("VerifySignature = %v, want %q", err, c.want)
			}
		})
	}
}
