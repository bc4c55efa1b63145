package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

const token = "test-admin-token-0123456789abcdef"

type bundle struct {
	srv    *server.Server
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve returns
	err    error         // Serve's result, valid after done
}

func setup(t *testing.T, ready func(context.Context) error) *bundle {
	t.Helper()
	srv := server.New(server.Options{
		PublicAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", AdminToken: token,
		MaxBodyBytes: 1024, BodyLimits: map[string]int64{"/upload": 8192}, Ready: ready, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), ShutdownTimeout: 2 * time.Second,
	})
	srv.AdminAPI.HandleFunc("GET /admin/v1/ping", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("pong"))
	})
	srv.AdminAPI.HandleFunc("POST /admin/v1/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.Write(b)
	})
	srv.Public.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		}
	})
	srv.Public.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	srv.Public.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // held open until the client goes away or shutdown ends
	})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bundle{srv: srv, cancel: cancel, done: make(chan struct{})}
	go func() { b.err = srv.Run(ctx); close(b.done) }()
	t.Cleanup(func() { cancel(); <-b.done })
	return b
}

func get(t *testing.T, url, bearer string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestHealthOnBothListeners(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, addr := range []string{b.srv.PublicAddr(), b.srv.AdminAddr()} {
		if code, body, h := get(t, "http://"+addr+"/healthz", ""); code != 200 || !strings.Contains(body, `"ok"`) || h.Get("X-Request-Id") == "" {
			t.Errorf("%s /healthz = %d %s (request id %q)", addr, code, body, h.Get("X-Request-Id"))
		}
		if code, _, _ := get(t, "http://"+addr+"/readyz", ""); code != 200 {
			t.Errorf("%s /readyz = %d", addr, code)
		}
	}
	if code, _, _ := get(t, "http://"+b.srv.PublicAddr()+"/metrics", ""); code != 404 {
		t.Errorf("/metrics on the public listener = %d, want 404", code)
	}
	if code, body, _ := get(t, "http://"+b.srv.AdminAddr()+"/metrics", ""); code != 200 || !strings.Contains(body, "vaspgate_http_requests_total") {
		t.Errorf("/metrics on admin = %d", code)
	}
}

// TestReadinessFollowsDatabase checks /readyz against a real database that goes away: the
// admin listener says why, the public one only that it is not ready (issue 11, defect 9).
func TestReadinessFollowsDatabase(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, func(ctx context.Context) error {
			if err := db.Ping(ctx); err != nil {
				return err
			}
			_, err := db.Migrated(ctx)
			return err
		})
		url := "http://" + b.srv.AdminAddr() + "/readyz"
		if code, body, _ := get(t, url, ""); code != 200 {
			t.Fatalf("ready with database up = %d %s", code, body)
		}
		db.Close()
		code, body, _ := get(t, url, "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") || !strings.Contains(body, `"error"`) {
			t.Fatalf("admin ready with database gone = %d %s, want 503 with the error", code, body)
		}
		// Wallets learn the status, never the database's error text.
		code, body, _ = get(t, "http://"+b.srv.PublicAddr()+"/readyz", "")
		var got map[string]string
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusServiceUnavailable || len(got) != 1 || got["status"] != "unavailable" {
			t.Fatalf("public ready with database gone = %d %s, want 503 {\"status\":\"unavailable\"} only", code, body)
		}
		if code, _, _ := get(t, "http://"+b.srv.AdminAddr()+"/healthz", ""); code != 200 {
			t.Fatalf("health with database gone = %d, want 200 (the process is up)", code)
		}
	})
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := "http://" + b.srv.AdminAddr() + "/admin/v1/ping"
	tests := []struct {
		name, bearer string
		want         int
	}{
		{"no token", "", 401},
		{"wrong token", "wrong-token-wrong-token-wrong", 401},
		{"prefix of the token", token[:10], 401},
		{"right token", token, 200},
	}
	for _, tt := range tests {
		code, body, h := get(t, url, tt.bearer)
		if code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.want)
		}
		if code == 401 {
			var e struct{ Error, Code string }
			if json.Unmarshal([]byte(body), &e) != nil || e.Code != "unauthorized" || h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: body %s, WWW-Authenticate %q", tt.name, body, h.Get("WWW-Authenticate"))
			}
		}
	}
	// The admin API is not on the public listener at all.
	if code, _, _ := get(t, "http://"+b.srv.PublicAddr()+"/admin/v1/ping", token); code != 404 {
		t.Errorf("admin API on the public listener = %d, want 404", code)
	}
	if code, body, _ := get(t, "http://"+b.srv.AdminAddr()+"/admin/v1/nothing", token); code != 404 || !strings.Contains(body, "not_found") {
		t.Errorf("unknown admin route = %d %s", code, body)
	}
}

func TestPanicBecomes500(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	code, body, _ := get(t, "http://"+b.srv.PublicAddr()+"/panic", "")
	if code != 500 || !strings.Contains(body, `"internal"`) {
		t.Fatalf("panic = %d %s", code, body)
	}
	if code, _, _ := get(t, "http://"+b.srv.PublicAddr()+"/healthz", ""); code != 200 {
		t.Fatal("server died after a panic")
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	post := func(n int) int {
		req, _ := http.NewRequest("POST", "http://"+b.srv.AdminAddr()+"/admin/v1/echo", strings.NewReader(strings.Repeat("x", n)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(1000); got != 200 {
		t.Errorf("body under the limit = %d", got)
	}
	if got := post(5000); got != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit = %d, want 413", got)
	}
	upload := func(n int) int {
		resp, err := http.Post("http://"+b.srv.PublicAddr()+"/upload", "application/octet-stream", strings.NewReader(strings.Repeat("x", n)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := upload(5000); got != 200 {
		t.Errorf("upload under its raised limit = %d", got)
	}
	if got := upload(9000); got != http.StatusRequestEntityTooLarge {
		t.Errorf("upload over its raised limit = %d, want 413", got)
	}
}

func TestShutdownEndsServe(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	resp, err := http.Get("http://" + b.srv.PublicAddr() + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b.cancel()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after shutdown began")
	}
	if _, err := http.Get("http://" + b.srv.PublicAddr() + "/healthz"); err == nil {
		t.Fatal("listener still accepts after shutdown")
	}
}

// The public listener answers unknown routes (404) and wrong methods (405, with Allow) in
// the JSON error shape wallets parse, not the standard library's plain text.
func TestPublicMissesAnswerJSONErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/no/such/route", 404, ""},
		{"DELETE", "/healthz", 405, "GET, HEAD"},
		{"GET", "/upload", 405, "POST"},
	} {
		req, _ := http.NewRequest(c.method, "http://"+b.srv.PublicAddr()+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error, Code string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || err != nil || body.Error == "" || body.Code == "" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %+v (%v) %v", c.method, c.path, resp.StatusCode, body, err, resp.Header)
		}
		if resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, resp.Header.Get("Allow"), c.allow)
		}
	}
	// Routes that exist still answer as before.
	if code, _, _ := get(t, "http://"+b.srv.PublicAddr()+"/healthz", ""); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
}
