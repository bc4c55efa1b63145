package callback

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// fixedResolver answers fixed addresses per host, as a DNS server under the test's control.
type fixedResolver map[string][]netip.Addr

func (f fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestURLPolicy(t *testing.T) {
	t.Parallel()
	p := URLPolicy{
		HTTPHosts: []string{"dev.local:8080"},
		Resolver: fixedResolver{
			"wallet.example":  {netip.MustParseAddr("93.184.216.34")},
			"rebind.example":  {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.1.2.3")},
			"meta.example":    {netip.MustParseAddr("169.254.169.254")},
			"dev.local":       {netip.MustParseAddr("127.0.0.1")},
			"v6.example":      {netip.MustParseAddr("2001:4860:4860::8888")},
			"v6local.example": {netip.MustParseAddr("fd00::1")},
		},
		Guard: Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	}
	for _, c := range []struct {
		url    string
		reason string // "" means accepted
	}{
		{"https://wallet.example/kyc", ""},
		{"https://wallet.example:8443/kyc?x=1", ""},
		{"https://wallet.example./kyc", ""},
		{"https://v6.example/cb", ""},
		{"http://dev.local:8080/cb", ""},
		{"http://wallet.example/kyc", "must be https"},
		{"http://dev.local:9090/cb", "must be https"},
		{"ftp://wallet.example/kyc", "must be https"},
		{"https://rebind.example/kyc", "points to an address callbacks may not reach"},
		{"https://meta.example/kyc", "points to an address callbacks may not reach"},
		{"https://v6local.example/kyc", "points to an address callbacks may not reach"},
		{"https://[::1]/kyc", "points to an address callbacks may not reach"},
		{"https://10.0.0.1/kyc", "points to an address callbacks may not reach"},
		{"https://[::ffff:10.0.0.1]/kyc", "points to an address callbacks may not reach"},
		{"https://unknown.example/kyc", "host does not resolve"},
		{"https://user:pw@wallet.example/kyc", "must not carry credentials"},
		{"wallet.example/kyc", "must be an absolute https URL"},
		{"", "must be an absolute https URL"},
	} {
		err := p.Check(context.Background(), c.url)
		var ue *URLError
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%q: refused: %v", c.url, err)
		case c.reason != "" && (!errors.As(err, &ue) || ue.Reason != c.reason):
			t.Errorf("%q: %v, want a *URLError %q", c.url, err, c.reason)
		}
	}
}
