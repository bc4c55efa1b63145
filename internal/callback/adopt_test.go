package callback

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// leaseOf reads the lease and due time of the delivery of eventID.
func leaseOf(t *testing.T, db *store.DB, eventID string) (token string, nextAt int64) {
	t.Helper()
	if err := db.QueryRowContext(context.Background(), `SELECT lease_token, next_at FROM callback_deliveries WHERE event_id = ?`,
		eventID).Scan(&token, &nextAt); err != nil {
		t.Fatalf("lease of %s: %v", eventID, err)
	}
	return token, nextAt
}

// publishOne publishes one message to dest.
func publishOne(t *testing.T, eng *Engine, dest, subject, eventID string) {
	t.Helper()
	if _, err := eng.Publish(context.Background(), []Publication{{Destination: dest, Subject: subject, Type: "t",
		Payload: []byte(`{"e":"` + eventID + `"}`), IdempotencyKey: eventID}}); err != nil {
		t.Fatal(err)
	}
}

// TestPublishLeasesIdleHeads (issue 16): a published message whose subject is idle is
// leased to the publishing instance in the publish transaction (due at the lease's end,
// leaseDue) and sent as soon as it commits, with no claim round: the engine here polls once
// an hour, so whatever arrives came without one (or, for a delivery left to the claim, by
// the wake-up that leaving it must cause). A message queued behind its subject's head is not
// leased, and follows its head by successor takeover. A disabled endpoint, an endpoint
// whose failures have reached the circuit threshold, an engine that is not running and an
// endpoint at its in-flight cap get nothing leased at publish.
func TestPublishLeasesIdleHeads(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		gate := make(chan struct{})
		rc.setRespond(func(r received, _ http.Header) int {
			if r.Path == "/held" {
				<-gate
			}
			return http.StatusOK
		})
		cfg := testConfig()
		cfg.PollInterval = time.Hour
		eng := start(t, db, cfg, WithMaxInFlightPerEndpoint(1))
		lateBy := func(nextAt int64) time.Duration {
			return time.Duration(nextAt-store.Micros(time.Now())) * time.Microsecond
		}
		// Run has started once something was delivered (before that, nothing is leased).
		publishOne(t, eng, rc.url("/warm"), "s", "w1")
		rc.next(t)

		// An idle subject: leased at publish, due at the lease's end, sent at once. Its
		// successor, published while it is in flight, waits unleased behind it.
		publishOne(t, eng, rc.url("/held"), "s", "a1")
		if token, nextAt := leaseOf(t, db, "a1"); token == "" || lateBy(nextAt) < cfg.Lease/2 {
			t.Fatalf("idle subject's head: lease %q due in %v, want leased and due at the lease's end (~%v)", token, lateBy(nextAt), cfg.Lease)
		}
		publishOne(t, eng, rc.url("/held"), "s", "a2")
		if d := deliveryOf(t, eng, "a2"); d.Status != StatusQueued {
			t.Fatalf("second message of a busy subject: %s, want queued", d.Status)
		}
		if token, _ := leaseOf(t, db, "a2"); token != "" {
			t.Fatal("a queued message was leased at publish")
		}

		// The endpoint is at its in-flight cap (1, a1 is held): a head for another subject
		// is leased by the insert, then released at once, due now.
		publishOne(t, eng, rc.url("/held"), "other", "c1")
		if _, nextAt := leaseOf(t, db, "c1"); lateBy(nextAt) > 0 {
			t.Fatalf("head over the in-flight cap due in %v, want released and due now", lateBy(nextAt))
		}
		close(gate)
		got := map[string]int{}
		for i := range 3 {
			got[string(rc.next(t).Body)] = i
		}
		if got[`{"e":"a1"}`] != 0 || got[`{"e":"a2"}`] < got[`{"e":"a1"}`] || len(got) != 3 {
			t.Fatalf("arrivals %v: want a1, then a2 (after it) and c1", got)
		}

		// A disabled endpoint, or one whose run of failures reached the threshold (its next
		// attempt is a claim's single probe), gets nothing leased at publish.
		publishOne(t, eng, rc.url("/off"), "s", "d1")
		publishOne(t, eng, rc.url("/probe"), "s", "p1")
		// Recorded, so that the success's health update comes before the test's.
		wait.For(t, "d1 and p1 recorded", func() bool {
			return deliveryOf(t, eng, "d1").Status == StatusDelivered && deliveryOf(t, eng, "p1").Status == StatusDelivered
		})
		rc.next(t)
		rc.next(t)
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `UPDATE callback_endpoints SET state = 'disabled' WHERE url = ?`, rc.url("/off")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE callback_endpoints SET failures = ? WHERE url = ?`, cfg.CircuitThreshold, rc.url("/probe")); err != nil {
			t.Fatal(err)
		}
		publishOne(t, eng, rc.url("/off"), "s", "d2")
		if token, nextAt := leaseOf(t, db, "d2"); token != "" || lateBy(nextAt) > 0 {
			t.Fatalf("head to a disabled endpoint: lease %q due in %v, want none, due now", token, lateBy(nextAt))
		}
		publishOne(t, eng, rc.url("/probe"), "s", "p2")
		if _, nextAt := leaseOf(t, db, "p2"); lateBy(nextAt) > 0 {
			t.Fatalf("head to a half-open endpoint due in %v: leased at publish", lateBy(nextAt))
		}
		if r := rc.next(t); string(r.Body) != `{"e":"p2"}` {
			t.Fatalf("the half-open endpoint's probe: got %s", r.Body)
		}

		// An engine that does not run leases nothing.
		idle, err := New(ctx, db, cfg)
		if err != nil {
			t.Fatal(err)
		}
		publishOne(t, idle, rc.url("/idle"), "s", "i1")
		if _, nextAt := leaseOf(t, db, "i1"); lateBy(nextAt) > 0 {
			t.Fatalf("published through an engine not running: due in %v, want due now (not leased at publish)", lateBy(nextAt))
		}
	})
}
