package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/httpjson"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaspgate_http_requests_total",
			Help: "HTTP requests served, by listener, route pattern, method and status code.",
		}, []string{"listener", "route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vaspgate_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by listener and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"listener", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
	// body is the request's body; when reading it ran into the listener's read deadline,
	// the handler's answer (whatever it made of the failed read) is replaced by 408.
	body *deadlineBody
	// swallow discards the handler's body after the 408 was written in its place.
	swallow bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status != 0 {
		r.ResponseWriter.WriteHeader(code) // superfluous: the standard library logs it
		return
	}
	if r.body != nil && r.body.timedOut && code < 500 && code != http.StatusRequestTimeout {
		// The body did not arrive before the read deadline: a slow client, not a bad or big
		// body (issue 11, defect 11), whatever the handler concluded from its failed read.
		r.status, r.swallow = http.StatusRequestTimeout, true
		h := r.ResponseWriter.Header()
		h.Del("Content-Length")
		h.Set("Connection", "close")
		httpjson.Error(r.ResponseWriter, http.StatusRequestTimeout, "request_timeout", "the request body did not arrive in time")
		return
	}
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.swallow {
		return len(b), nil
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// deadlineBody notes whether reading a request body failed on the connection's read
// deadline (http.Server.ReadTimeout).
type deadlineBody struct {
	io.ReadCloser
	timedOut bool
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		d.timedOut = true
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// middleware gives every request an id, recovers panics into a 500, answers 408 when the
// request's body did not arrive before the listener's read timeout (on every route: each
// handler only sees a failed read), and logs and counts the request once it is done. Bodies and headers are never logged: they carry tokens and
// personal data.
func (s *Server) middleware(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		rec := &recorder{ResponseWriter: w}
		if r.Body != nil && r.Body != http.NoBody {
			rec.body = &deadlineBody{ReadCloser: r.Body}
			r.Body = rec.body
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "request_id", id, "listener", listener,
					"method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					httpjson.Error(rec, http.StatusInternalServerError, "internal", "internal error (request id "+id+")")
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.metrics.requests.WithLabelValues(listener, route, r.Method, strconv.Itoa(rec.status)).Inc()
			s.metrics.duration.WithLabelValues(listener, route).Observe(time.Since(start).Seconds())
			level := slog.LevelInfo
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
				level = slog.LevelDebug
			}
			s.log.Log(r.Context(), level, "request", "request_id", id, "listener", listener,
				"method", r.Method, "path", r.URL.Path, "route", route, "status", rec.status,
				"bytes", rec.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000,
				"remote", r.RemoteAddr)
		}()
		next.ServeHTTP(rec, r)
	})
}
