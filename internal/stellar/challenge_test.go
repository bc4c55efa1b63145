package stellar

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"
)

// FuzzToken feeds POST /auth's transaction value to the token exchange: it never panics,
// and it answers every input that is not a correctly signed challenge with a RequestError.
func FuzzToken(f *testing.F) {
	a, err := New(withLogger(testConfig("https://anchor.example"), slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	client := keypair.MustRandom()
	c, err := a.Challenge(context.Background(), ChallengeRequest{Account: client.Address(), Memo: "5"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.Transaction)
	gtx, _ := txnbuild.TransactionFromXDR(c.Transaction)
	tx, _ := gtx.Transaction()
	signed, _ := tx.Sign(a.passphrase, client)
	s, _ := signed.Base64()
	f.Add(s)
	f.Add("")
	f.Add("AAAA")
	f.Add("not base64 at all")

	f.Fuzz(func(t *testing.T, in string) {
		_, err := a.Token(context.Background(), in)
		var re *RequestError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("Token(%q): %v is not a RequestError", in, err)
		}
	})
}

func withLogger(o Options, l *slog.Logger) Options {
	o.Logger = l
	return o
}
