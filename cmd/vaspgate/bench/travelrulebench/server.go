// Package travelrulebench measures the enclave callback receiver over real HTTP: it sends the
// enclave's fixtures (each set rewritten to a fresh verification) plus a share of repeats, at
// a given concurrency, and reports throughput, acknowledgement latency and how many
// callbacks were stored, recognised as duplicates and lost. It drives a running server or one
// it starts in process (Server, also the child of the kill -9 test). `vaspgate bench
// travelrule` runs it.
package travelrulebench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/lifecycle"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

// CallbackPath is where the in-process server mounts the enclave callback.
const CallbackPath = "/travel-rule/callback"

// ServerOptions configure an in-process receiver.
type ServerOptions struct {
	DatabaseURL string // sqlite:PATH or postgres://…; migrated on start
	SpoolDir    string
	Token       string
	Addr        string // listen address; default 127.0.0.1:0
	// SealKey seals bodies and IVMS101 (32 bytes); nil uses a fixed development key.
	SealKey []byte
	// StoreBudget is the service's database budget before spooling (default 250ms).
	StoreBudget time.Duration
	// SweepInterval is the service's sweep of stale pending callbacks (default 1m).
	SweepInterval time.Duration
	Logger        *slog.Logger
}

// Server is an in-process receiver: database, job engine, travel-rule service, and an HTTP
// server with the callback endpoint and the admin API (without admin auth: loopback only).
type Server struct {
	URL     string // base URL, e.g. http://127.0.0.1:43121
	DB      *store.DB
	Service *travelrule.Service

	jobs    *job.Engine
	metrics *prometheus.Registry // the service's
	stop    context.CancelFunc
	done    chan error // Run's result
}

// StartServer opens and migrates the database, starts the job engine and the service, and
// serves HTTP until Close.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SealKey == nil {
		o.SealKey = make([]byte, seal.KeySize)
	}
	keys, err := seal.New(o.SealKey)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s := &Server{DB: db, metrics: prometheus.NewRegistry()}
	s.jobs = job.New(db, job.Options{Logger: o.Logger})
	s.Service, err = travelrule.New(db, s.jobs, testkit.TravelRuleOptions(travelrule.Options{Sealer: keys, SpoolDir: o.SpoolDir, StoreBudget: o.StoreBudget, SweepInterval: o.SweepInterval, Logger: o.Logger, Registerer: s.metrics}))
	if err == nil {
		err = s.jobs.Open()
	}
	h, herr := travelrulehttp.NewCallbackHandler(s.Service, testkit.EnclaveConfig(travelrulehttp.CallbackConfig{Tokens: []string{o.Token}, Logger: o.Logger}))
	if err == nil {
		err = herr
	}
	var ln net.Listener
	if err == nil {
		ln, err = net.Listen("tcp", o.Addr)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("travelrulebench: start server: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+CallbackPath, h)
	travelrulehttp.Register(mux, s.Service)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.URL = "http://" + ln.Addr().String()
	serve := func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(shut)
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = stop, make(chan error, 1)
	// In the application's order: HTTP first, then the service and the jobs.
	go func() {
		s.done <- lifecycle.Run(runCtx, lifecycle.Stage{{Name: "http", Run: serve}},
			lifecycle.Stage{{Name: "travel rule", Run: s.Service.Run}, {Name: "jobs", Run: s.jobs.Run}})
	}()
	return s, nil
}

// Spooled is how many callbacks the server acknowledged from its spool (spilled during a
// burst, or the database late or down), from the service's metrics.
func (s *Server) Spooled() (int, error) {
	families, err := s.metrics.Gather()
	if err != nil {
		return 0, fmt.Errorf("travelrulebench: metrics: %w", err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() != "vaspgate_travel_rule_callbacks_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == string(travelrule.OutcomeSpooled) {
					n += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return n, nil
}

// Close stops serving, lets the service answer what it holds, and stops the jobs.
func (s *Server) Close() error {
	s.stop()
	return errors.Join(<-s.done, s.DB.Close())
}
