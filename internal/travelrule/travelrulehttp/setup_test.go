package travelrulehttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/lifecycle"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

const (
	fixtureDir   = "../../../../shared/fixtures/travel-rule"
	token        = "enclave-token-for-tests-0123456789"
	callbackPath = "/travel-rule/callback"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// events records the business events handed to the outbox (the delivery engine's Outbox is
// not ours to run here; the interface is what the service depends on).
type events struct {
	mu   sync.Mutex
	msgs []callback.Message
}

func (e *events) Business(_ context.Context, tx *store.Tx, m callback.Message) error {
	if tx == nil {
		panic("event outside a transaction")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.msgs = append(e.msgs, m)
	return nil
}

func (e *events) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.msgs)
}

// bundle is one running receiver: database, job engine, service, and an HTTP server with the
// callback endpoint and the admin API, as the server mounts them.
type bundle struct {
	db     *store.DB
	svc    *travelrule.Service
	srv    *httptest.Server
	events *events
}

type setupOpts struct {
	cfg       travelrulehttp.CallbackConfig
	spoolDir  string
	budget    time.Duration
	retention int
	metrics   prometheus.Registerer // nil: the service's metrics stay unregistered
}

func setup(t *testing.T, db *store.DB, o setupOpts) *bundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if o.spoolDir == "" {
		o.spoolDir = t.TempDir()
	}
	quiet := slog.New(slog.DiscardHandler)
	eng := job.New(db, job.Options{PollInterval: 20 * time.Millisecond, Logger: quiet})
	ev := &events{}
	svc, err := travelrule.New(db, eng, testkit.TravelRuleOptions(travelrule.Options{
		Sealer: keys, Events: ev, Logger: quiet, SpoolDir: o.spoolDir, StoreBudget: o.budget, RetentionDays: o.retention,
		Registerer: o.metrics,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Open(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() {
		ran <- lifecycle.Run(ctx, lifecycle.Stage{{Name: "travel rule", Run: svc.Run}, {Name: "jobs", Run: eng.Run}})
	}()
	o.cfg.Logger = quiet
	if o.cfg.Tokens == nil {
		o.cfg.Tokens = []string{token}
	}
	h, err := travelrulehttp.NewCallbackHandler(svc, testkit.EnclaveConfig(o.cfg))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+callbackPath, h)
	travelrulehttp.Register(mux, svc)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-ran
	})
	return &bundle{db: db, svc: svc, srv: srv, events: ev}
}

// post sends a callback with the enclave's token and returns status and body.
func (b *bundle) post(t testing.TB, body []byte) (int, string) {
	t.Helper()
	return b.postWith(t, body, "Authorization", "Bearer "+token)
}

func (b *bundle) postWith(t testing.TB, body []byte, header, value string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+callbackPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Errorf("post: %v", err)
		return 0, ""
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// mustAck posts and requires the enclave's expected answer, byte for byte.
func (b *bundle) mustAck(t testing.TB, body []byte) {
	t.Helper()
	status, resp := b.post(t, body)
	want := string(bytes.TrimSpace(fixture(t, "response_ok.json")))
	if status != http.StatusOK || !jsonEqual(resp, want) {
		t.Fatalf("answer %d %q, want 200 %q", status, resp, want)
	}
	if resp != travelrulehttp.ResponseOK {
		t.Fatalf("answer %q, want exactly %q", resp, travelrulehttp.ResponseOK)
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// admin GETs an admin path and decodes the JSON answer into v.
func (b *bundle) admin(t testing.TB, method, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(method, b.srv.URL+path, nil)
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("admin %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

// waitProcessed waits until no callback of the verification is pending and returns its view.
func (b *bundle) waitProcessed(t testing.TB, uuid string, callbacks int) travelrule.VerificationView {
	t.Helper()
	var v travelrule.VerificationView
	wait.For(t, "verification "+uuid+" processed", func() bool {
		if b.svc.SpoolPending() {
			return false // a callback that outlived its store budget is not in yet
		}
		var err error
		v, err = b.svc.Verification(context.Background(), uuid)
		if err != nil || v.Version == 0 || len(v.Callbacks) != callbacks {
			return false
		}
		for _, c := range v.Callbacks {
			if c.State == "pending" {
				return false
			}
		}
		return true
	})
	return v
}

func (b *bundle) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}
