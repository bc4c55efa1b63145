package callback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned (wrapped) when the SSRF guard refuses to dial an address.
var ErrForbiddenAddress = errors.New("callback: destination address not allowed")

// blockedPrefixes are the ranges of delivery.md section 5. ::ffff:0:0/96 and 64:ff9b::/96
// are not listed: their embedded IPv4 address is judged instead.
var blockedPrefixes = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "100::/64", "2001:db8::/32", "2002::/16", "5f00::/16",
	"fc00::/7", "fe80::/10", "ff00::/8",
)

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard decides which addresses outbound callbacks may reach. The zero value refuses every
// range of delivery.md section 5; Allow lists CIDRs that are reachable anyway (internal
// partners, loopback in development and tests).
type Guard struct {
	Allow []netip.Prefix
}

// Scopes are the SSRF guards by audience (issue 11, defect 3). Opening a private range for
// the business server must not open it to every wallet: a wallet registers any URL it likes,
// so its callbacks reach only public addresses unless a development setting says otherwise.
// It is the one home of "who may be dialled": URLPolicy checks registrations with
// Wallet, and the delivery engine dials each endpoint through the guard For returns.
type Scopes struct {
	// Internal guards the business endpoint and the destinations the operator configured
	// (callback.destinations, clients' callback URLs): the blocked ranges, except
	// callback.allow_cidrs.
	Internal Guard
	// Wallet guards URLs wallets register: the blocked ranges, except
	// callback.wallet_allow_cidrs (development only; production refuses it).
	Wallet Guard
	// Configured are wallet-kind URLs the operator configured (clients[].callback_urls);
	// they are dialled under Internal.
	Configured []string
}

// For returns the guard for an endpoint of kind (KindWallet, KindBusiness, KindDestination)
// at rawURL.
func (s Scopes) For(kind, rawURL string) Guard {
	if s.internal(kind, rawURL) {
		return s.Internal
	}
	return s.Wallet
}

func (s Scopes) internal(kind, rawURL string) bool {
	return kind == KindBusiness || kind == KindDestination || slices.Contains(s.Configured, rawURL)
}

// CheckDestination reports whether a configured destination (business URL, client callback
// URL) is one the guard lets through, resolving its host name. It is what start-up runs on
// every configured destination: production refuses to start on a refused one, development
// warns. A host that does not resolve now is not refused: DNS may come later, and each
// attempt is guarded when dialled.
func (g Guard) CheckDestination(ctx context.Context, rawURL string, r Resolver) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("%w: %q is not an absolute URL", ErrForbiddenAddress, rawURL)
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else {
		if r == nil {
			r = net.DefaultResolver
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, _ = r.LookupNetIP(rctx, "ip", host)
	}
	for _, a := range addrs {
		if !g.Allowed(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrForbiddenAddress, host, a)
		}
	}
	return nil
}

// ParseAllow parses an allow-list of CIDRs (or single addresses).
func ParseAllow(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, fmt.Errorf("callback: allow-list %q: %w", c, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Allowed reports whether a may be dialled.
func (g Guard) Allowed(a netip.Addr) bool {
	a = a.WithZone("")
	for _, p := range g.Allow {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return true
		}
	}
	a = a.Unmap()
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		for _, p := range g.Allow {
			if p.Contains(a) {
				return true
			}
		}
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// control runs after DNS resolution on the address actually dialled, so a name that
// resolves (or re-resolves) to a forbidden address cannot get through.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !g.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// ClientOptions configure the outbound HTTP client.
type ClientOptions struct {
	Guard          Guard
	ConnectTimeout time.Duration // default 5 s
	Timeout        time.Duration // whole attempt, default 15 s
	MaxIdlePerHost int           // default 64
}

// NewHTTPClient returns a client for callbacks: SSRF guard at dial time, no proxy (a proxy
// would hide the real destination from the guard), no redirects, bounded timeouts.
func NewHTTPClient(o ClientOptions) *http.Client {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.MaxIdlePerHost <= 0 {
		o.MaxIdlePerHost = 64
	}
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second, Control: o.Guard.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   o.MaxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// readCapped reads at most limit bytes of r and reports whether more was there. It drains a
// little more so that the connection can be reused, then gives up.
func readCapped(r io.Reader, limit int) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	truncated := len(b) > limit
	if truncated {
		b = b[:limit]
		_, _ = io.CopyN(io.Discard, r, 64<<10)
	}
	return b, truncated, err
}
