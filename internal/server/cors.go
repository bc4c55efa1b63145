package server

import "net/http"

// CORS makes the SEP endpoints usable from a browser wallet on any origin (stellar-seps.md
// 1): every answer, errors included, is marked readable from any origin, and a preflight
// (OPTIONS) is answered here, without a token. Wrap it outside the SEP-10 middleware, and
// register the same handler for OPTIONS on each path (Preflight is that handler).
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			preflight(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Preflight answers a CORS preflight request for a SEP endpoint.
var Preflight http.Handler = CORS(http.NotFoundHandler())

func preflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}
