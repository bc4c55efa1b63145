package console

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestIDBefore(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cursor := idBefore(at)
	for _, tc := range []struct {
		id     string
		before bool
	}{
		{idBefore(at.Add(-time.Millisecond))[:14] + "7fff-bfff-ffffffffffff", true}, // the last id of the millisecond before
		{idBefore(at)[:14] + "7000-8000-000000000000", false},                       // the first id of the millisecond itself
		{idBefore(at.Add(time.Hour))[:14] + "7000-8000-000000000000", false},
	} {
		if got := tc.id < cursor; got != tc.before {
			t.Errorf("%s < %s = %v, want %v", tc.id, cursor, got, tc.before)
		}
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/console/deliveries?status=failed": "/console/deliveries?status=failed",
		"":                                  "/console/",
		"https://evil.example/console/":     "/console/",
		"//evil.example/console/":           "/console/",
		"/console/\\evil":                   "/console/",
		"/admin/v1/deliveries":              "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true}, // no Origin: not a browser form from another site
		{"http://127.0.0.1:8001", true},
		{"https://127.0.0.1:8001", true},
		{"null", false},
		{"http://evil.example", false},
		{"http://127.0.0.1:8002", false},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8001/console/signin", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := sameOrigin(r); got != tc.ok {
			t.Errorf("Origin %q: sameOrigin = %v, want %v", tc.origin, got, tc.ok)
		}
	}
}
