package callback

import (
	"strconv"
	"testing"
	"time"
)

// TestRecordBatches: recordBatches records a lone attempt at once; attempts that finish
// while a recording is in flight wait for it and go in one batch; a backlog of
// overlapBatch is recorded beside the recordings in flight, never more than recorders at
// a time; closing completions records what is left. The recording is a stand-in that
// reports each batch and holds it until the test releases it, so the test decides when
// each recording ends.
func TestRecordBatches(t *testing.T) {
	t.Parallel()
	// A step hands attempts over (each send returns once recordBatches has taken it),
	// releases a recording (numbered from 1 in the order they started) or closes
	// completions; then exactly the recordings of the sizes in started have begun.
	type step struct {
		send    int
		release int
		close   bool
		started []int
	}
	cases := []struct {
		name      string
		recorders int
		steps     []step
	}{
		{
			name: "a lone attempt is recorded at once", recorders: 4,
			steps: []step{{send: 1, started: []int{1}}, {release: 1}, {close: true}},
		},
		{
			name: "attempts that finish during a recording wait for it and go in one batch", recorders: 4,
			steps: []step{
				{send: 1, started: []int{1}},
				{send: 10},
				{release: 1, started: []int{10}},
				{send: 3},
				{release: 2, started: []int{3}},
				{release: 3}, {close: true},
			},
		},
		{
			name: "a backlog is recorded beside the recording in flight", recorders: 4,
			steps: []step{
				{send: 1, started: []int{1}},
				{send: overlapBatch - 1},
				{send: 1, started: []int{overlapBatch}},
				{send: 2},
				{release: 2, started: nil}, // one still in flight: the two wait
				{release: 1, started: []int{2}},
				{release: 3}, {close: true},
			},
		},
		{
			name: "no more recordings at once than recorders", recorders: 2,
			steps: []step{
				{send: 1, started: []int{1}},
				{send: overlapBatch, started: []int{overlapBatch}},
				{send: overlapBatch + 5},
				{release: 1, started: []int{overlapBatch + 5}},
				{release: 2}, {release: 3}, {close: true},
			},
		},
		{
			name: "closing records what is left, after the recording in flight", recorders: 4,
			steps: []step{
				{send: 1, started: []int{1}},
				{send: 5},
				{close: true},
				{release: 1, started: []int{5}},
				{release: 2},
			},
		},
		{
			name: "one recorder never overlaps", recorders: 1,
			steps: []step{
				{send: 1, started: []int{1}},
				{send: overlapBatch + 1},
				{release: 1, started: []int{overlapBatch + 1}},
				{release: 2}, {close: true},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type held struct {
				batch   []completion
				release chan struct{}
			}
			completions := make(chan completion) // unbuffered: a send returns once taken
			calls := make(chan held, 16)
			done := make(chan struct{})
			go func() {
				defer close(done)
				recordBatches(completions, tc.recorders, func(b []completion) {
					h := held{batch: b, release: make(chan struct{})}
					calls <- h
					<-h.release
				})
			}()
			var started []held
			recorded := map[string]int{}
			sent := 0
			for i, s := range tc.steps {
				for range s.send {
					sent++
					completions <- completion{c: claimed{id: strconv.Itoa(sent)}}
				}
				if s.release > 0 {
					close(started[s.release-1].release)
				}
				if s.close {
					close(completions)
				}
				for _, size := range s.started {
					select {
					case h := <-calls:
						if len(h.batch) != size {
							t.Fatalf("step %d: a recording of %d attempts started, want %d", i, len(h.batch), size)
						}
						for _, c := range h.batch {
							recorded[c.c.id]++
						}
						started = append(started, h)
					case <-time.After(10 * time.Second):
						t.Fatalf("step %d: no recording of %d attempts started", i, size)
					}
				}
				select {
				case h := <-calls:
					t.Fatalf("step %d: a recording of %d attempts started, want none more", i, len(h.batch))
				default:
				}
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("recordBatches did not return after completions closed and every recording ended")
			}
			if len(recorded) != sent {
				t.Fatalf("%d of %d attempts recorded", len(recorded), sent)
			}
			for id, n := range recorded {
				if n != 1 {
					t.Errorf("attempt %s recorded %d times", id, n)
				}
			}
		})
	}
}
