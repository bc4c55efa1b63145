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

// TestPurgeKeepsDeadLetters: retention removes delivered deliveries (and their attempts)
// finished before the cutoff, and nothing else — not a newer delivery, not a dead letter.
func TestPurgeKeepsDeadLetters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rc := newReceiver(t)
		rc.setRespond(func(r received, _ http.Header) int {
			if r.Path == "/gone-wrong" {
				return http.StatusBadRequest // permanent: a dead letter at once
			}
			return http.StatusOK
		})
		b := setup(t, db, testConfig())
		b.wallet(t, rc.url("/ok"), Message{EventID: "old-1", Type: "t", Subject: "s1", Body: []byte(`{}`)})
		b.wallet(t, rc.url("/ok"), Message{EventID: "old-2", Type: "t", Subject: "s2", Body: []byte(`{}`)})
		b.wallet(t, rc.url("/gone-wrong"), Message{EventID: "dead", Type: "t", Subject: "s3", Body: []byte(`{}`)})
		for _, id := range []string{"old-1", "old-2", "dead"} {
			wait.For(t, id+" final", func() bool {
				st := deliveryOf(t, b.eng, id).Status
				return st == StatusDelivered || st == StatusFailed
			})
		}
		if st := deliveryOf(t, b.eng, "dead").Status; st != StatusFailed {
			t.Fatalf("dead = %s, want failed", st)
		}
		count := func(table string) int {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// A cutoff before everything finished removes nothing.
		if n, err := b.eng.Purge(ctx, b.clock.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("purge with an old cutoff = %d, %v", n, err)
		}
		// A cutoff after: both delivered go, with their attempts; the dead letter stays.
		n, err := b.eng.Purge(ctx, b.clock.Now().Add(time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("purge = %d, %v; want 2", n, err)
		}
		if got := count("callback_deliveries"); got != 1 {
			t.Fatalf("%d deliveries left, want the dead letter only", got)
		}
		if got := count("callback_attempts"); got != 1 {
			t.Fatalf("%d attempts left, want the dead letter's only", got)
		}
		d := deliveryOf(t, b.eng, "dead")
		if d.Status != StatusFailed || len(d.AttemptLog) != 1 {
			t.Fatalf("dead letter after purge: %+v", d)
		}
	})
}
