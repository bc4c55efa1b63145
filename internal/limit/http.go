package limit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Source is the key a request's source address is limited by: the client address, or —
// when the peer is a configured trusted proxy — the nearest address in X-Forwarded-For
// that is not one. An IPv6 address counts as its /64, which one subscriber usually holds
// whole (limiting single addresses there would limit nothing).
func Source(r *http.Request, trusted []netip.Prefix) string {
	return key(r, client(r, trusted))
}

func key(r *http.Request, addr netip.Addr) string {
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// client is the address Source keys on.
func client(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := peer(r.RemoteAddr)
	if addr.IsValid() && isTrusted(addr, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a forged or garbled hop: the last good one stands
			}
			addr = a.Unmap()
			if !isTrusted(addr, trusted) {
				break
			}
		}
	}
	return addr
}

func peer(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// PerAddress limits next by source address (Source with trusted proxies); l nil lets all
// through. Mount it outside every public route, so that even requests that fail
// authentication cost a token. A source on loopback is this machine itself (health checks,
// local tools, a reverse proxy that does not say whom it forwards for) and is not limited:
// a proxy on the same host must set X-Forwarded-For and be trusted.
func PerAddress(l *Limiter, trusted []netip.Prefix) func(http.Handler) http.Handler {
	return PerKey(l, "address", func(r *http.Request) string {
		addr := client(r, trusted)
		if addr.IsLoopback() {
			return ""
		}
		return key(r, addr)
	})
}

// PerKey limits next by the key key returns (an empty key is not limited); scope names the
// key in the refusal ("address", "identity"). b is a *Limiter (this process) or a *Shared
// (every instance); a nil one lets all through.
func PerKey(b Bucket, scope string, key func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if off(b) {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions {
				next.ServeHTTP(w, r) // CORS preflights are the browser's, not the caller's
				return
			}
			if k := key(r); k != "" {
				if ok, wait := b.Take(r.Context(), k); !ok {
					Refuse(w, &RateError{Scope: scope, RetryAfter: wait})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// off reports whether b limits nothing (nil, or a nil limiter of either kind).
func off(b Bucket) bool {
	switch v := b.(type) {
	case nil:
		return true
	case *Limiter:
		return v == nil
	case *Shared:
		return v == nil
	}
	return false
}
