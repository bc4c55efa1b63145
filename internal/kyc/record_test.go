package kyc

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/config"
)

// fakeResolver answers fixed addresses per host.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestCheckCallbackURL(t *testing.T) {
	t.Parallel()
	s := &Service{
		cfg: config.KYC{CallbackHTTPHosts: []string{"dev.local:8080"}},
		resolver: fakeResolver{
			"wallet.example":  {netip.MustParseAddr("93.184.216.34")},
			"rebind.example":  {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.1.2.3")},
			"meta.example":    {netip.MustParseAddr("169.254.169.254")},
			"dev.local":       {netip.MustParseAddr("127.0.0.1")},
			"v6.example":      {netip.MustParseAddr("2001:4860:4860::8888")},
			"v6local.example": {netip.MustParseAddr("fd00::1")},
		},
		guard: callback.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	}
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://wallet.example/kyc", true},
		{"https://wallet.example:8443/kyc?x=1", true},
		{"https://v6.example/cb", true},
		{"http://dev.local:8080/cb", true},
		{"http://wallet.example/kyc", false},
		{"http://dev.local:9090/cb", false},
		{"https://rebind.example/kyc", false},
		{"https://meta.example/kyc", false},
		{"https://v6local.example/kyc", false},
		{"https://[::1]/kyc", false},
		{"https://10.0.0.1/kyc", false},
		{"https://[::ffff:10.0.0.1]/kyc", false},
		{"https://unknown.example/kyc", false},
		{"https://user:pw@wallet.example/kyc", false},
		{"wallet.example/kyc", false},
		{"ftp://wallet.example/kyc", false},
		{"", false},
	} {
		err := s.CheckCallbackURL(context.Background(), c.url)
		var bad *BadRequestError
		if c.ok && err != nil || !c.ok && !errors.As(err, &bad) {
			t.Errorf("%q: %v, want ok=%v", c.url, err, c.ok)
		}
	}
}

func TestCallerOwns(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		caller Caller
		owner  Owner
		want   bool
	}{
		{Caller{Account: "G1"}, Owner{Account: "G1"}, true},
		{Caller{Account: "G1"}, Owner{Account: "G1", Memo: "5"}, true}, // plain account scopes by memo
		{Caller{Account: "G1", Memo: "5"}, Owner{Account: "G1", Memo: "5"}, true},
		{Caller{Account: "G1", Memo: "5"}, Owner{Account: "G1", Memo: "6"}, false},
		{Caller{Account: "G1", Memo: "5"}, Owner{Account: "G1"}, false},
		{Caller{Account: "G2"}, Owner{Account: "G1"}, false},
	} {
		if got := c.caller.owns(c.owner); got != c.want {
			t.Errorf("%+v owns %+v = %v", c.caller, c.owner, got)
		}
	}
}
