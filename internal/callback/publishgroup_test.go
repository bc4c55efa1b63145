package callback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// groupCall is one Publish of a test group: its messages, and whether it is cancelled
// while it waits for its turn (or, for the first call, while it leads).
type groupCall struct {
	ps     []Publication
	cancel bool
}

type groupOutcome struct {
	out []Published
	err error
}

// publishInOneGroup starts calls one after another so that they take one group commit in
// start order: the first call leads and is held before it takes its group until every other
// call waits behind it (or, when cancelled, has given up waiting). It returns each call's
// outcome and how many groups were led.
func publishInOneGroup(t *testing.T, eng *Engine, calls []groupCall) ([]groupOutcome, int) {
	t.Helper()
	g := &eng.outbox.publishing
	queued := make(chan int, len(calls))
	release := make(chan struct{})
	var leads atomic.Int32
	g.queued = func(n int) { queued <- n }
	g.hold = func() {
		if leads.Add(1) == 1 {
			<-release
		}
	}
	defer func() { g.queued, g.hold = nil, nil }()
	outs := make([]groupOutcome, len(calls))
	var wg sync.WaitGroup
	var cancelLeader context.CancelFunc
	waiting := 0
	for i, c := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			outs[i].out, outs[i].err = eng.Publish(ctx, c.ps)
		}()
		waiting++
		if n := <-queued; n != waiting {
			t.Fatalf("call %d: %d calls waiting, want %d", i, n, waiting)
		}
		switch {
		case c.cancel && i == 0:
			cancelLeader = cancel
		case c.cancel:
			cancel()
			<-done // it left the queue at once: the leader is still held
			waiting--
		}
	}
	if cancelLeader != nil {
		cancelLeader()
	}
	close(release)
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.leading || len(g.queue) != 0 {
		t.Fatalf("after the group: leading %v, %d calls queued", g.leading, len(g.queue))
	}
	return outs, int(leads.Load())
}

// poisonSubject is refused by a rule only the database knows (added by the test), so a call
// carrying it passes Publish's checks and fails in the group's transaction.
const poisonSubject = "poison"

// TestPublishGroupCommit: calls merged into one group commit each get their own results;
// subjects take sequences in the calls' turn order and each call's order; one idempotency
// key in two calls of a group is one delivery; a call the database refuses, or one
// cancelled before its turn, records nothing and fails alone.
func TestPublishGroupCommit(t *testing.T) {
	t.Parallel()
	msg := func(dest, subject, key string) Publication {
		return Publication{Destination: dest, Subject: subject, Type: "order.updated",
			Payload: []byte(fmt.Sprintf(`{"s":%q,"k":%q}`, subject, key)), IdempotencyKey: key}
	}
	type want struct {
		err  error // errors.Is; nil: recorded
		fail bool  // some other error
		seqs []int64
		dup  []bool
	}
	cases := []struct {
		name  string
		calls func(dest string) []groupCall
		want  []want
		rows  int
	}{
		{
			name: "shared subjects take the turn order, each call keeps its own",
			calls: func(dest string) []groupCall {
				var cs []groupCall
				for i := range 6 {
					k := fmt.Sprintf("c%d-", i)
					cs = append(cs, groupCall{ps: []Publication{msg(dest, "a", k+"1"), msg(dest, "b", k+"2"), msg(dest, "a", k+"3")}})
				}
				return cs
			},
			want: []want{
				{seqs: []int64{1, 1, 2}}, {seqs: []int64{3, 2, 4}}, {seqs: []int64{5, 3, 6}},
				{seqs: []int64{7, 4, 8}}, {seqs: []int64{9, 5, 10}}, {seqs: []int64{11, 6, 12}},
			},
			rows: 18,
		},
		{
			name: "one idempotency key in two calls is one delivery",
			calls: func(dest string) []groupCall {
				return []groupCall{{ps: []Publication{msg(dest, "a", "k1")}}, {ps: []Publication{msg(dest, "a", "k1")}},
					{ps: []Publication{msg(dest, "a", "k2")}}, {ps: []Publication{msg(dest, "b", "k1"), msg(dest, "b", "k3")}}}
			},
			want: []want{
				{seqs: []int64{1}, dup: []bool{false}}, {seqs: []int64{1}, dup: []bool{true}},
				{}, {dup: []bool{true, false}},
			},
			rows: 3,
		},
		{
			name: "a call the database refuses fails alone",
			calls: func(dest string) []groupCall {
				return []groupCall{{ps: []Publication{msg(dest, "a", "p1")}}, {ps: []Publication{msg(dest, "b", "p2"), msg(dest, poisonSubject, "p3")}},
					{ps: []Publication{msg(dest, "a", "p4"), msg(dest, "b", "p5")}}}
			},
			want: []want{{seqs: []int64{1}}, {fail: true}, {seqs: []int64{2, 1}}},
			rows: 3,
		},
		{
			name: "calls cancelled before their turn record nothing",
			calls: func(dest string) []groupCall {
				return []groupCall{{ps: []Publication{msg(dest, "a", "x1")}, cancel: true}, {ps: []Publication{msg(dest, "a", "x2")}},
					{ps: []Publication{msg(dest, "a", "x3")}, cancel: true}, {ps: []Publication{msg(dest, "a", "x4")}}}
			},
			want: []want{{err: context.Canceled}, {seqs: []int64{1}}, {err: context.Canceled}, {seqs: []int64{2}}},
			rows: 2,
		},
	}
	for _, tc := range cases {
		// One case at a time: each runs an engine on each engine's database (connections).
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				storetest.RefuseInserts(t, db, "callback_deliveries", "subject", poisonSubject)
				rc := newReceiver(t)
				eng := start(t, db, testConfig())
				dest := rc.url("/hook")
				calls := tc.calls(dest)
				outs, leads := publishInOneGroup(t, eng, calls)
				if leads != 1 {
					t.Errorf("%d groups led, want 1", leads)
				}
				byEvent, firsts := map[string]string{}, map[string]int{}
				for i, w := range tc.want {
					o := outs[i]
					switch {
					case w.err != nil || w.fail:
						if o.err == nil || (w.err != nil && !errors.Is(o.err, w.err)) || errors.Is(o.err, ErrInvalidMessage) {
							t.Errorf("call %d: %v, want %v", i, o.err, w.err)
						}
						continue
					case o.err != nil:
						t.Errorf("call %d: %v", i, o.err)
						continue
					}
					if len(o.out) != len(calls[i].ps) {
						t.Fatalf("call %d: %d results for %d messages", i, len(o.out), len(calls[i].ps))
					}
					for j, p := range o.out {
						sent := calls[i].ps[j]
						if p.EventID != sent.IdempotencyKey || p.Subject != sent.Subject || p.DeliveryID == "" || p.EndpointID != WalletEndpointID(dest) {
							t.Errorf("call %d message %d: %+v for %+v", i, j, p, sent)
						}
						if w.seqs != nil && p.Sequence != w.seqs[j] {
							t.Errorf("call %d message %d: sequence %d, want %d", i, j, p.Sequence, w.seqs[j])
						}
						if w.dup != nil && p.Duplicate != w.dup[j] {
							t.Errorf("call %d message %d: duplicate %v, want %v", i, j, p.Duplicate, w.dup[j])
						}
						if d, ok := byEvent[p.EventID]; ok && d != p.DeliveryID {
							t.Errorf("call %d message %d: event %s is delivery %s here, %s before", i, j, p.EventID, p.DeliveryID, d)
						}
						byEvent[p.EventID] = p.DeliveryID
						if !p.Duplicate {
							firsts[p.EventID]++
						}
					}
				}
				for ev, n := range firsts {
					if n != 1 {
						t.Errorf("event %s: %d answers not marked duplicate, want 1", ev, n)
					}
				}
				// Exactly the recorded rows exist, one per event id, and every one is
				// delivered (a repeat left no subject without its head).
				var rows, events int
				if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*), COUNT(DISTINCT event_id) FROM callback_deliveries`).Scan(&rows, &events); err != nil {
					t.Fatal(err)
				}
				if rows != tc.rows || events != tc.rows {
					t.Fatalf("%d deliveries (%d event ids) recorded, want %d", rows, events, tc.rows)
				}
				wait.For(t, "every recorded delivery delivered", func() bool {
					var open int
					err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM callback_deliveries WHERE status <> 'delivered'`).Scan(&open)
					return err == nil && open == 0
				})
				if n := drainReceived(rc); n < tc.rows {
					t.Errorf("%d requests received, want %d", n, tc.rows)
				}
			})
		})
	}
}

// TestPublishRefusesWhatTheDatabaseCannotStore: text PostgreSQL refuses (NUL, invalid
// UTF-8) is refused by Publish's checks, not by a transaction shared with other calls.
func TestPublishRefusesWhatTheDatabaseCannotStore(t *testing.T) {
	t.Parallel()
	eng, err := New(context.Background(), storetest.New(t, store.SQLite), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	ok := Publication{Destination: "http://127.0.0.1:1/hook", Subject: "a", Type: "t", Payload: []byte(`{}`)}
	for _, tc := range []struct {
		name string
		edit func(p *Publication)
	}{
		{"NUL in the subject", func(p *Publication) { p.Subject = "a\x00b" }},
		{"NUL in the idempotency key", func(p *Publication) { p.IdempotencyKey = "k\x00" }},
		{"invalid UTF-8 in the destination", func(p *Publication) { p.Destination = "http://127.0.0.1:1/\xff" }},
		{"invalid UTF-8 in the subject", func(p *Publication) { p.Subject = "\xc3" }},
	} {
		p := ok
		tc.edit(&p)
		if _, err := eng.Publish(context.Background(), []Publication{ok, p}); !errors.Is(err, ErrInvalidMessage) || !strings.HasPrefix(err.Error(), "message 1:") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
