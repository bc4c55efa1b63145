package kyc

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// TestCheckCallbackURL checks that the SEP-12 answer names the url field; the policy itself
// is callback.URLPolicy's, tested there.
func TestCheckCallbackURL(t *testing.T) {
	t.Parallel()
	s := &Service{callbackURLs: callback.URLPolicy{HTTPHosts: []string{"127.0.0.1"},
		Guard: callback.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}}
	for _, c := range []struct{ url, msg string }{
		{"http://127.0.0.1/cb", ""},
		{"http://127.0.0.2/cb", "url must be https"},
		{"https://10.0.0.1/cb", "url points to an address callbacks may not reach"},
	} {
		err := s.CheckCallbackURL(context.Background(), c.url)
		var bad *BadRequestError
		if c.msg == "" && err != nil || c.msg != "" && (!errors.As(err, &bad) || bad.Error() != c.msg) {
			t.Errorf("%q: %v, want %q", c.url, err, c.msg)
		}
	}
}

func TestCallerOwns(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		caller wallet.Identity
		owner  wallet.Identity
		want   bool
	}{
		{wallet.Identity{Account: "G1"}, wallet.Identity{Account: "G1"}, true},
		{wallet.Identity{Account: "G1"}, wallet.Identity{Account: "G1", Memo: "5"}, true}, // plain account scopes by memo
		{wallet.Identity{Account: "G1", Memo: "5"}, wallet.Identity{Account: "G1", Memo: "5"}, true},
		{wallet.Identity{Account: "G1", Memo: "5"}, wallet.Identity{Account: "G1", Memo: "6"}, false},
		{wallet.Identity{Account: "G1", Memo: "5"}, wallet.Identity{Account: "G1"}, false},
		{wallet.Identity{Account: "G2"}, wallet.Identity{Account: "G1"}, false},
	} {
		if got := owns(c.caller, c.owner); got != c.want {
			t.Errorf("%+v owns %+v = %v", c.caller, c.owner, got)
		}
	}
}
