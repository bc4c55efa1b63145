package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	called := false
	h := CORS(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		called = true
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, tc := range []struct {
		method     string
		status     int
		next       bool
		preflights bool
	}{
		{http.MethodGet, http.StatusTeapot, true, false},
		{http.MethodPost, http.StatusTeapot, true, false},
		{http.MethodOptions, http.StatusNoContent, false, true},
	} {
		called = false
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tc.method, "/sep12/customer", nil)
		req.Header.Set("Origin", "https://wallet.example")
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || called != tc.next || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: status %d, next called %v, headers %v", tc.method, rec.Code, called, rec.Header())
		}
		if got := rec.Header().Get("Access-Control-Allow-Headers") != ""; got != tc.preflights {
			t.Errorf("%s: preflight headers present = %v", tc.method, got)
		}
	}
	rec := httptest.NewRecorder()
	Preflight.ServeHTTP(rec, httptest.NewRequest(http.MethodOptions, "/auth", nil))
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("Preflight: %d %v", rec.Code, rec.Header())
	}
}
