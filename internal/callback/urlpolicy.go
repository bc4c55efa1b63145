package callback

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Resolver resolves host names for URLPolicy; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// URLPolicy decides which callback URLs a wallet may register (SEP-6 on_change_callback,
// SEP-12 PUT /customer/callback): absolute https URLs (plain http only for hosts listed in
// HTTPHosts, for development), without credentials, whose host resolves only to addresses
// the Guard lets through. It is the one home of that rule; the delivery engine applies the
// Guard again to the address it actually dials, so a later DNS change gains nothing.
type URLPolicy struct {
	Guard Guard
	// HTTPHosts are host or host:port values allowed over plain http.
	HTTPHosts []string
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
}

// URLError says why a callback URL was refused. Reason completes a sentence about the URL
// ("must be https"), so that each protocol can name its own field.
type URLError struct {
	Reason string
}

func (e *URLError) Error() string { return "callback url " + e.Reason }

// Check returns a *URLError saying what is wrong with raw, or nil.
func (p URLPolicy) Check(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Hostname() == "" {
		return &URLError{Reason: "must be an absolute https URL"}
	}
	if u.User != nil {
		return &URLError{Reason: "must not carry credentials"}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !slices.Contains(p.HTTPHosts, u.Host) && !slices.Contains(p.HTTPHosts, u.Hostname()) {
			return &URLError{Reason: "must be https"}
		}
	default:
		return &URLError{Reason: "must be https"}
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		var r Resolver = net.DefaultResolver
		if p.Resolver != nil {
			r = p.Resolver
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err = r.LookupNetIP(rctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return &URLError{Reason: "host does not resolve"}
		}
	}
	for _, a := range addrs {
		if !p.Guard.Allowed(a) {
			return &URLError{Reason: "points to an address callbacks may not reach"}
		}
	}
	return nil
}
