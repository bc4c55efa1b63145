package callback

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestAttemptLogRecorded: a recording writes every column of each attempt as the attempt
// was made, on both engines (on PostgreSQL in the statement that applies the outcomes), and
// logs an attempt whose lease was lost meanwhile without applying its outcome.
func TestAttemptLogRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng, err := New(ctx, db, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := range 2 {
				m := Message{Type: "log", Subject: "subject-" + strconv.Itoa(i), Body: []byte(`{}`)}
				if err := eng.Outbox().Wallet(ctx, tx, "http://127.0.0.1:1/cb", m); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		cs, err := eng.q.claim(ctx, 10, "lease", store.Micros(now.Add(time.Minute)), store.Micros(now), store.Micros(now), nil)
		if err != nil || len(cs) != 2 {
			t.Fatalf("claimed %d, %v", len(cs), err)
		}
		started := now.Add(-time.Second).Truncate(time.Microsecond)
		batch := []outcome{
			{c: cs[0], status: StatusPending, tries: 1, nextAt: store.Micros(now.Add(time.Hour)), a: attemptLog{
				started: started, duration: 1234 * time.Microsecond, status: 503, result: Result{Outcome: Retry, Code: CodeHTTP},
				errText: "HTTP 503", body: []byte("busy"), truncated: true}},
			{c: cs[1], status: StatusDelivered, tries: 1, finished: store.Micros(now), a: attemptLog{
				started: started.Add(time.Millisecond), duration: 5 * time.Microsecond, status: 200, result: Result{Outcome: Delivered},
				body: []byte("ok")}},
		}
		batch[1].c.token = "lost" // another instance holds it now
		hp := healthPolicy{threshold: 5, cooldown: time.Second, maxCooldown: time.Minute, disableAfter: time.Hour}
		rec, err := eng.q.record(ctx, "instance-1", batch, hp, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range batch {
			if want := o.c.token == "lease"; rec.applied[i] != want {
				t.Errorf("%s: applied %v, want %v", o.c.id, rec.applied[i], want)
			}
		}
		ad := NewAdmin(db)
		for _, o := range batch {
			d, err := ad.Delivery(ctx, o.c.id)
			if err != nil {
				t.Fatal(err)
			}
			want := Attempt{N: 1, Instance: "instance-1", StartedAt: o.a.started, Duration: o.a.duration, StatusCode: o.a.status,
				Outcome: o.a.result.Outcome.String(), ErrorCode: o.a.result.Code, Error: o.a.errText, ResponseBody: string(o.a.body),
				ResponseTruncated: o.a.truncated}
			if len(d.AttemptLog) != 1 {
				t.Fatalf("%s: %d attempts logged, want 1", o.c.id, len(d.AttemptLog))
			}
			got := d.AttemptLog[0]
			got.StartedAt = got.StartedAt.In(want.StartedAt.Location())
			if !got.StartedAt.Equal(want.StartedAt) {
				t.Errorf("%s: started %v, want %v", o.c.id, got.StartedAt, want.StartedAt)
			}
			got.StartedAt = want.StartedAt
			if got != want {
				t.Errorf("%s: attempt\n got %+v\nwant %+v", o.c.id, got, want)
			}
			// The retry leaves its delivery pending with one attempt; the outcome of the
			// lost lease is not applied (pending, no attempt counted).
			wantAttempts := 0
			if o.c.token == "lease" {
				wantAttempts = 1
			}
			if d.Status != StatusPending || d.Attempts != wantAttempts {
				t.Errorf("%s: status %s with %d attempts, want pending with %d", o.c.id, d.Status, d.Attempts, wantAttempts)
			}
		}
	})
}
