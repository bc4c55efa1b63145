package callback

import (
	"context"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestSuccessorTakeover (issue 16): recording a delivered head for a worker that asked to
// take over leases the subject's next delivery to this instance in the same transaction
// and hands it back, so no claim round comes between them; no other claim gets it. A
// retried or dead head, a worker that did not ask, or a disabled endpoint leaves the next
// head (if any) to the claim rounds, unleased.
func TestSuccessorTakeover(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng, err := New(ctx, db, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			take     bool
			outcome  Outcome
			disable  bool
			wantNext bool
		}{
			{"delivered, asked", true, Delivered, false, true},
			{"delivered, not asked", false, Delivered, false, false},
			{"delivered, endpoint disabled meanwhile", true, Delivered, true, false},
			{"retried", true, Retry, false, false},
			{"dead", true, Permanent, false, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				url := "http://127.0.0.1:1/" + t.Name()
				for _, id := range []string{"1", "2"} {
					if err := db.InTx(ctx, func(tx *store.Tx) error {
						return eng.Outbox().Wallet(ctx, tx, url, Message{EventID: t.Name() + id, Type: "t", Subject: "s", Body: []byte(`{}`)})
					}); err != nil {
						t.Fatal(err)
					}
				}
				var head claimed
				cs, _, err := eng.claim(ctx, 100)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs {
					if c.eventID == t.Name()+"1" {
						head = c
					} else if err := eng.q.release(ctx, c, store.Micros(time.Now())); err != nil {
						t.Fatal(err)
					}
				}
				if head.id == "" {
					t.Fatal("the head was not claimed")
				}
				if tc.disable {
					if _, err := db.ExecContext(ctx, `UPDATE callback_endpoints SET state = 'disabled' WHERE id = ?`, head.endpointID); err != nil {
						t.Fatal(err)
					}
				}
				a := attemptLog{started: time.Now(), result: Result{Outcome: tc.outcome}, status: 200}
				if tc.outcome != Delivered {
					a.status, a.result.Code = 503, CodeHTTP
				}
				next, err := eng.record(ctx, []completion{{c: head, a: a, take: tc.take}})
				if err != nil {
					t.Fatal(err)
				}
				got, ok := next[subjectKey{head.endpointID, head.subject}]
				if ok != tc.wantNext {
					t.Fatalf("successor handed back: %v, want %v", ok, tc.wantNext)
				}
				second := deliveryOf(t, eng, t.Name()+"2")
				var token string
				var until int64
				if err := db.QueryRowContext(ctx, `SELECT lease_token, lease_until FROM callback_deliveries WHERE id = ?`, second.ID).Scan(&token, &until); err != nil {
					t.Fatal(err)
				}
				if !tc.wantNext {
					if token != "" {
						t.Fatalf("successor leased (%s) though nobody takes it over", token)
					}
					return
				}
				if got.id != second.ID || got.seq != 2 || string(got.body) == "" || got.token == "" {
					t.Fatalf("successor %+v, want delivery %s (seq 2, with its body and a lease token)", got, second.ID)
				}
				if second.Status != StatusPending || token != got.token || until <= store.Micros(time.Now()) {
					t.Fatalf("successor in the database: status %s, lease %q until %d; want pending, leased to %q", second.Status, token, until, got.token)
				}
				cs, _, err = eng.claim(ctx, 100)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs {
					if c.id == got.id {
						t.Fatal("a claim got the successor while it is leased")
					}
					if err := eng.q.release(ctx, c, store.Micros(time.Now())); err != nil {
						t.Fatal(err)
					}
				}
				// The successor's own attempt is recorded under the lease it came with.
				if _, err := eng.record(ctx, []completion{{c: got, a: attemptLog{started: time.Now(), result: Result{Outcome: Delivered}, status: 200}}}); err != nil {
					t.Fatal(err)
				}
				if d := deliveryOf(t, eng, t.Name()+"2"); d.Status != StatusDelivered || d.Attempts != 1 {
					t.Fatalf("successor after its attempt: %s, %d attempts; want delivered, 1", d.Status, d.Attempts)
				}
			})
		}
	})
}
