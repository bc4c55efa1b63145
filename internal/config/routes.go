package config

import "strings"

// adminRoutes are the admin listener's own routes (server, rpc, console, admin API): a
// configured path (the enclave's) must not take one of them. Exact paths, and prefixes
// ending in "/" that own everything below them.
var adminRoutes = []string{
	"/", "/rpc", "/healthz", "/readyz", "/metrics", "/health", "/transactions", "/console",
	"/admin/", "/console/", "/transactions/",
}

// adminRouteCollision returns the admin route that path would take or shadow, or "".
func adminRouteCollision(path string) string {
	for _, r := range adminRoutes {
		if path == r || (r != "/" && strings.HasSuffix(r, "/") && strings.HasPrefix(path, r)) ||
			(path+"/" == r) {
			return r
		}
	}
	return ""
}
