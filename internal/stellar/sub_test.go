package stellar

import (
	"errors"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/wallet"
)

func muxed(t testing.TB, g string, id uint64) string {
	t.Helper()
	var m strkey.MuxedAccount
	if err := m.SetAccountID(g); err != nil {
		t.Fatal(err)
	}
	m.SetID(id)
	s, err := m.Address()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// corrupt changes the last character of a strkey to a different one, so its
// checksum no longer holds. Writing a fixed character would leave the key
// valid whenever the random key already ends with it.
func corrupt(s string) string {
	last := s[len(s)-1]
	repl := byte('A')
	if last == repl {
		repl = 'B'
	}
	return s[:len(s)-1] + string(repl)
}

func TestParseSub(t *testing.T) {
	t.Parallel()
	g := keypair.MustRandom().Address()
	m := muxed(t, g, 42)
	tests := []struct {
		sub  string
		want wallet.Identity
		err  bool
	}{
		{sub: g, want: wallet.Identity{Sub: g, Account: g}},
		{sub: g + ":123", want: wallet.Identity{Sub: g + ":123", Account: g, Memo: "123"}},
		{sub: g + ":18446744073709551615", want: wallet.Identity{Sub: g + ":18446744073709551615", Account: g, Memo: "18446744073709551615"}},
		{sub: m, want: wallet.Identity{Sub: m, Account: g, Memo: "42", Muxed: m}},
		{sub: "", err: true},
		{sub: "invalid", err: true},
		{sub: g + ":", err: true},
		{sub: g + ":abc", err: true},
		{sub: g + ":007", err: true},
		{sub: g + ":-1", err: true},
		{sub: g + ":18446744073709551616", err: true},
		{sub: g + ":1:2", err: true},
		{sub: m + ":1", err: true},
		{sub: keypair.MustRandom().Seed(), err: true},
		{sub: corrupt(g), err: true},
	}
	for _, tt := range tests {
		got, err := ParseSub(tt.sub)
		if tt.err {
			if !errors.Is(err, ErrInvalidSub) {
				t.Errorf("ParseSub(%q) = %+v, %v; want ErrInvalidSub", tt.sub, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSub(%q) = %+v, %v; want %+v", tt.sub, got, err, tt.want)
		}
		if got.Shared() != (tt.want.Memo != "") {
			t.Errorf("ParseSub(%q).Shared() = %v", tt.sub, got.Shared())
		}
	}
}

func FuzzParseSub(f *testing.F) {
	g := keypair.MustRandom().Address()
	for _, s := range []string{g, g + ":1", muxed(f, g, 7), "M", "G:", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sub string) {
		id, err := ParseSub(sub)
		if err != nil {
			return
		}
		if id.Sub != sub || !strkey.IsValidEd25519PublicKey(id.Account) {
			t.Fatalf("ParseSub(%q) = %+v", sub, id)
		}
		again, err := ParseSub(id.Sub)
		if err != nil || again != id {
			t.Fatalf("not stable: %+v vs %+v (%v)", id, again, err)
		}
	})
}
