package server

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/vaspgate/vaspgate/internal/httpjson"
)

// adminGuard holds the admin listener's rules against browsers turned into proxies: a page
// on any site can make the operator's browser POST to 127.0.0.1:8001 (a "simple" cross-site
// request: text/plain, no preflight), or rebind its own name to that address and read the
// answers. So every admin route
//   - answers only Host values that cannot be an attacker's name: IP literals, loopback
//     names and the configured admin host names (DNS rebinding carries the attacker's name);
//   - refuses an Origin header other than its own origin or a configured one (cross-site);
//   - wants a JSON content type on a body (a cross-site form or text/plain post cannot send
//     one without a preflight, which nothing here answers).
//
// The console's pages post forms (they carry CSRF tokens), so they are spared the content
// type rule; the enclave's endpoints, called server to server under names the operator does
// not list here, keep their own token and content rules and skip the guard.
type adminGuard struct {
	hosts   []string // lower case, as configured (host or host:port)
	origins []string
	forms   []string // path prefixes whose bodies may be forms
	exempt  []string // exact paths outside the guard
}

func newAdminGuard(o Options) *adminGuard {
	g := &adminGuard{forms: o.AdminFormPrefixes, exempt: o.AdminExemptPaths}
	for _, h := range o.AdminHosts {
		g.hosts = append(g.hosts, strings.ToLower(h))
	}
	for _, or := range o.AdminOrigins {
		g.origins = append(g.origins, strings.ToLower(strings.TrimSuffix(or, "/")))
	}
	return g
}

func (g *adminGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(g.exempt, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if !g.hostAllowed(r.Host) {
			httpjson.Error(w, http.StatusForbidden, "host_not_allowed",
				"the admin listener does not answer Host "+r.Host+" (add it to admin.hosts, VASPGATE_ADMIN_HOSTS)")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !g.originAllowed(o, r) {
			httpjson.Error(w, http.StatusForbidden, "origin_not_allowed",
				"cross-origin requests to the admin listener are refused (allow an origin with admin.origins, VASPGATE_ADMIN_ORIGINS)")
			return
		}
		if hasBody(r) && !g.formsAllowed(r.URL.Path) && !jsonContent(r.Header.Get("Content-Type")) {
			httpjson.Error(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
				"the admin listener takes request bodies as Content-Type: application/json")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed: an IP literal or a loopback name cannot be an attacker's DNS name; any other
// name must be configured.
func (g *adminGuard) hostAllowed(hostport string) bool {
	if hostport == "" { // HTTP/1.0 without Host: not a browser
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: resolved to loopback by the resolver itself, never by DNS
	}
	return slices.Contains(g.hosts, host) || slices.Contains(g.hosts, strings.ToLower(hostport))
}

// originAllowed: the listener's own origin (a console page posting to itself), or a
// configured one. "null" (sandboxed frames, file: pages) is never allowed.
func (g *adminGuard) originAllowed(origin string, r *http.Request) bool {
	origin = strings.ToLower(origin)
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return origin == scheme+strings.ToLower(r.Host) || slices.Contains(g.origins, origin)
}

func (g *adminGuard) formsAllowed(path string) bool {
	for _, p := range g.forms {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

// jsonContent reports whether a Content-Type names JSON: application/json or a +json type.
func jsonContent(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")))
}
