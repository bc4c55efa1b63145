package console

import (
	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"net/http/httptest"
	"strings"
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

// TestGroupByChange: a callback goes under the change whose time its body carries, a
// later change that kept the status under the last change before it, the rest unplaced.
func TestGroupByChange(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 123456000, time.UTC)
	history := []transfer.StatusChange{
		{Version: 1, At: t0, To: "incomplete"},
		{Version: 2, At: t0.Add(time.Second), From: "incomplete", To: "pending_anchor"},
		{Version: 4, At: t0.Add(3 * time.Second), From: "pending_anchor", To: "completed"},
	}
	iso := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	// Newest first, as the deliveries list gives them.
	list := []callback.Delivery{{ID: "f"}, {ID: "e"}, {ID: "d"}, {ID: "c"}, {ID: "b"}, {ID: "a"}}
	bodies := map[string]statusEvent{
		"a": {Status: "incomplete", At: iso(0)},
		"b": {Status: "pending_anchor", At: iso(time.Second)},
		"c": {Status: "pending_anchor", At: iso(time.Second)},     // the event of the same change
		"d": {Status: "pending_anchor", At: iso(2 * time.Second)}, // amounts changed, status kept
		"e": {Status: "completed", At: iso(3*time.Second + 400)},  // nanoseconds the history does not keep
		"f": {Status: "pending_anchor", At: iso(-time.Hour)},      // before every change
	}
	changes, unplaced := groupByChange(history, list, bodies)
	ids := func(l []callback.Delivery) string {
		var s []string
		for _, d := range l {
			s = append(s, d.ID)
		}
		return strings.Join(s, ",")
	}
	for i, want := range []struct{ caused, later string }{{"a", ""}, {"b,c", "d"}, {"e", ""}} {
		if got := ids(changes[i].Caused); got != want.caused {
			t.Errorf("change %d caused %q, want %q", changes[i].Version, got, want.caused)
		}
		if got := ids(changes[i].Later); got != want.later {
			t.Errorf("change %d later %q, want %q", changes[i].Version, got, want.later)
		}
	}
	if got := ids(unplaced); got != "f" {
		t.Errorf("unplaced %q, want f", got)
	}
}
