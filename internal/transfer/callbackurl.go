package transfer

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
)

// CallbackPolicy decides which on_change_callback URLs a wallet may register: absolute
// https URLs (plain http only for hosts listed in HTTPHosts, for development), without
// credentials, whose host resolves only to addresses the SSRF guard lets through. The
// delivery engine applies the guard again to the address it actually dials.
type CallbackPolicy struct {
	Guard     callback.Guard
	HTTPHosts []string
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
}

// Check returns an *InvalidError saying what is wrong with raw, or nil.
func (p CallbackPolicy) Check(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Hostname() == "" {
		return &InvalidError{Msg: "on_change_callback must be an absolute https URL"}
	}
	if u.User != nil {
		return &InvalidError{Msg: "on_change_callback must not carry credentials"}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !slices.Contains(p.HTTPHosts, u.Host) && !slices.Contains(p.HTTPHosts, u.Hostname()) {
			return &InvalidError{Msg: "on_change_callback must be https"}
		}
	default:
		return &InvalidError{Msg: "on_change_callback must be https"}
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		var r interface {
			LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
		} = net.DefaultResolver
		if p.Resolver != nil {
			r = p.Resolver
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err = r.LookupNetIP(rctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return &InvalidError{Msg: "on_change_callback host does not resolve"}
		}
	}
	for _, a := range addrs {
		if !p.Guard.Allowed(a) {
			return &InvalidError{Msg: "on_change_callback points to an address callbacks may not reach"}
		}
	}
	return nil
}
