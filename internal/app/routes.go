package app

import (
	"fmt"
	"net/http"
	"net/url"
)

// freeAdminPaths returns an error naming the first configured path (key → path) that a
// route already registered on mux would answer. Configuration validation refuses the known
// collisions with a message naming the setting; this keeps a route added later from turning
// a collision into a panic at start (http.ServeMux panics on conflicting patterns).
func freeAdminPaths(mux *http.ServeMux, paths map[string]string) error {
	for key, p := range paths {
		_, pattern := mux.Handler(&http.Request{Method: http.MethodPost, URL: &url.URL{Path: p}, Host: "localhost"})
		if pattern != "" {
			return fmt.Errorf("%s: %q collides with the admin listener's route %q", key, p, pattern)
		}
	}
	return nil
}
