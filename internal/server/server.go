// Package server runs vaspgate's two HTTP listeners on the standard library:
//
//   - public: what wallets reach (SEP-1, SEP-10, SEP-12, SEP-6);
//   - admin: what only the VASP's own systems reach (JSON-RPC, enclave callbacks, the admin
//     REST API under /admin/v1/ behind a bearer token, /metrics), optionally over TLS, with
//     Host, Origin and content type checked on every route (adminguard.go).
//
// Both get /healthz (process up) and /readyz (database reachable and migrated), request ids,
// JSON request logs, panics turned into 500s, timeouts and graceful shutdown. Feature
// packages register their routes on the three muxes; this package knows none of them.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/httpjson"
)

// Options configure a Server.
type Options struct {
	PublicAddr string
	AdminAddr  string
	// AdminToken guards /admin/v1/.
	AdminToken string
	// MaxBodyBytes caps request bodies on the public listener and the admin API. Routes on
	// Admin (JSON-RPC, enclave callbacks) apply their own limits: the enclave receiver must
	// keep even an oversized body.
	MaxBodyBytes int64
	// BodyLimits raise (or lower) the cap for paths under a prefix, e.g. SEP-12 uploads
	// under "/sep12/customer". The longest matching prefix wins.
	BodyLimits map[string]int64
	// AdminHosts are the Host values the admin listener answers besides IP literals and
	// loopback names (config admin.hosts).
	AdminHosts []string
	// AdminOrigins are the browser origins allowed on the admin listener besides its own
	// (config admin.origins).
	AdminOrigins []string
	// AdminFormPrefixes are path prefixes on the admin listener whose request bodies may be
	// forms (the console, which has CSRF tokens); every other body must be JSON.
	AdminFormPrefixes []string
	// AdminExemptPaths are exact admin paths with their own authentication and content rules
	// that skip the Host, Origin and content type guard (the enclave's endpoints).
	AdminExemptPaths []string
	// AdminTLSCertFile and AdminTLSKeyFile (PEM) serve the admin listener over TLS.
	AdminTLSCertFile, AdminTLSKeyFile string
	// Ready reports whether the service can do its work (database reachable, migrated).
	Ready func(ctx context.Context) error
	// ReadyDetail, when set, adds parts' own state to the admin listener's /readyz (the
	// payment observer's leader and lag): shown, not judged — readiness stays Ready's.
	ReadyDetail func(ctx context.Context) map[string]any
	// PublicEdge, when set, wraps every request of the public listener first (the rate
	// limit per source address), so that refusing a flood costs the least.
	PublicEdge func(http.Handler) http.Handler
	// ReadTimeout bounds reading a whole request, body included; a body still arriving
	// then is answered 408. 0 means 30 s.
	ReadTimeout time.Duration
	// ShutdownTimeout is how long Run lets in-flight requests finish once its context ends
	// (shutdown_timeout).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	Registry        *prometheus.Registry
}

// Server holds the two listeners and their routes.
type Server struct {
	// Public is the wallet-facing mux.
	Public *http.ServeMux
	// Admin is the mux of the admin listener for routes with their own authentication
	// (JSON-RPC, the enclave callback).
	Admin *http.ServeMux
	// AdminAPI is the mux for /admin/v1/ routes; every request on it has passed the admin
	// bearer token check.
	AdminAPI *http.ServeMux

	opts    Options
	log     *slog.Logger
	metrics *httpMetrics

	mu          sync.Mutex
	public      *http.Server
	admin       *http.Server
	publicLn    net.Listener
	adminLn     net.Listener
	adminTokens Tokens
}

// New returns a server with health, readiness and metrics routes in place.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 30 * time.Second
	}
	s := &Server{
		Public:      http.NewServeMux(),
		Admin:       http.NewServeMux(),
		AdminAPI:    http.NewServeMux(),
		opts:        opts,
		log:         opts.Logger,
		metrics:     newHTTPMetrics(opts.Registry),
		adminTokens: NewTokens(opts.AdminToken),
	}
	for _, mux := range []*http.ServeMux{s.Public, s.Admin} {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
		})
	}
	// Why the service is not ready (a database error names hosts, users, paths) is for the
	// operator: wallets get the status alone.
	s.Public.HandleFunc("GET /readyz", s.readyz(false))
	s.Admin.HandleFunc("GET /readyz", s.readyz(true))
	s.Admin.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry}))
	s.Admin.Handle("/admin/v1/", s.requireAdmin(limitBody(opts.MaxBodyBytes, nil, s.AdminAPI)))
	s.AdminAPI.HandleFunc("/admin/v1/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "no such admin route: "+r.Method+" "+r.URL.Path)
	})
	return s
}

// readyz answers the readiness probe; with detail (the admin listener), a failure carries
// its error text and ReadyDetail adds the parts' own state (it names hosts and accounts).
func (s *Server) readyz(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		body := map[string]any{"status": "ready"}
		if detail && s.opts.ReadyDetail != nil {
			if d := s.opts.ReadyDetail(ctx); len(d) > 0 {
				body["detail"] = d
			}
		}
		if s.opts.Ready != nil {
			if err := s.opts.Ready(ctx); err != nil {
				body["status"] = "unavailable"
				if detail {
					body["error"] = err.Error()
				}
				httpjson.Write(w, http.StatusServiceUnavailable, body)
				return
			}
		}
		httpjson.Write(w, http.StatusOK, body)
	}
}

// requireAdmin lets a request through only with `Authorization: Bearer <admin token>`,
// compared by Tokens (constant time, no length leak).
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vaspgate admin"`)
			httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "missing bearer token")
			return
		}
		if !s.adminTokens.Match(token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vaspgate admin", error="invalid_token"`)
			httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "invalid bearer token")
			return
		}
		// An operator holding the admin token is the actor of what the admin API changes.
		next.ServeHTTP(w, r.WithContext(actor.With(r.Context(), actor.Actor{Kind: actor.Operator, Name: "admin"})))
	})
}

func limitBody(def int64, byPrefix map[string]int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, longest := def, -1
		for prefix, limit := range byPrefix {
			if strings.HasPrefix(r.URL.Path, prefix) && len(prefix) > longest {
				n, longest = limit, len(prefix)
			}
		}
		if r.ContentLength > n {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", n))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// jsonMisses answers what mux has no route for — an unknown path (404) or a known path with
// another method (405, with its Allow header) — in the JSON error shape wallets parse
// ({"error": …}) instead of the standard library's plain text, readable from any origin
// like every other answer of the public listener.
func jsonMisses(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405 (and which methods are allowed), then
		// answer its decision in JSON.
		rec := &missRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.status == http.StatusMethodNotAllowed {
			httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow")))
			return
		}
		httpjson.Error(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path)
	})
}

// missRecorder keeps only the status and headers of the mux's own not-found answer.
type missRecorder struct {
	header http.Header
	status int
}

func (m *missRecorder) Header() http.Header { return m.header }
func (m *missRecorder) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}
func (m *missRecorder) Write(b []byte) (int, error) {
	m.WriteHeader(http.StatusOK)
	return len(b), nil
}

// Listen binds both listeners. Addresses ending in ":0" get a free port; see PublicAddr and
// AdminAddr for the result.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pub, err := net.Listen("tcp", s.opts.PublicAddr)
	if err != nil {
		return fmt.Errorf("server: public listener %s: %w", s.opts.PublicAddr, err)
	}
	var tlsConfig *tls.Config
	if s.opts.AdminTLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.opts.AdminTLSCertFile, s.opts.AdminTLSKeyFile)
		if err != nil {
			pub.Close()
			return fmt.Errorf("server: admin.tls_cert_file, admin.tls_key_file: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	adm, err := net.Listen("tcp", s.opts.AdminAddr)
	if err != nil {
		pub.Close()
		return fmt.Errorf("server: admin listener %s: %w", s.opts.AdminAddr, err)
	}
	if tlsConfig != nil {
		adm = tls.NewListener(adm, tlsConfig)
	}
	s.publicLn, s.adminLn = pub, adm
	// The text rule (httpjson.RequireText) runs before any route reads a path or query value.
	public := httpjson.RequireText(limitBody(s.opts.MaxBodyBytes, s.opts.BodyLimits, jsonMisses(s.Public)))
	if s.opts.PublicEdge != nil {
		public = s.opts.PublicEdge(public)
	}
	s.public = s.httpServer("public", public)
	s.admin = s.httpServer("admin", newAdminGuard(s.opts).wrap(httpjson.RequireText(s.Admin)))
	return nil
}

// PublicAddr is the bound public address (after Listen).
func (s *Server) PublicAddr() string { return s.publicLn.Addr().String() }

// AdminAddr is the bound admin address (after Listen).
func (s *Server) AdminAddr() string { return s.adminLn.Addr().String() }

func (s *Server) httpServer(name string, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           s.middleware(name, h),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Run serves both listeners (bound by Listen) until ctx is cancelled, then shuts down
// gracefully: no new connections, in-flight requests get up to ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.public.Serve(s.publicLn) }()
	go func() { errc <- s.admin.Serve(s.adminLn) }()
	s.log.Info("listening", "public", s.PublicAddr(), "admin", s.AdminAddr())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	err := errors.Join(s.public.Shutdown(shutCtx), s.admin.Shutdown(shutCtx))
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", serveErr)
	}
	if err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}
