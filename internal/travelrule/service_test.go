package travelrule

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestStartCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		inflight, most int
		full, waited   bool
		want           bool
	}{
		{0, 1, false, false, true},  // nothing in flight: at once
		{0, 4, false, false, true},  //
		{1, 4, false, false, false}, // gather behind the commit in flight
		{1, 4, true, false, true},   // a full group starts beside it
		{1, 4, false, true, true},   // so does one that gathered for gatherLimit
		{1, 1, true, true, false},   // no room: wait for the commit in flight
		{4, 4, false, true, false},  //
		{3, 4, false, true, true},   //
	}
	for _, tt := range tests {
		if got := startCommit(tt.inflight, tt.most, tt.full, tt.waited); got != tt.want {
			t.Errorf("startCommit(%d, %d, %v, %v) = %v, want %v", tt.inflight, tt.most, tt.full, tt.waited, got, tt.want)
		}
	}
}

func TestFoldDeferred(t *testing.T) {
	t.Parallel()
	tests := []struct {
		burst  bool
		waited time.Duration
		want   bool
	}{
		{false, 0, false}, // no burst: fold
		{true, 0, true},   // a burst: give way
		{true, foldMaxDefer - time.Millisecond, true}, //
		{true, foldMaxDefer, false},                   // but not longer than foldMaxDefer
	}
	for _, tt := range tests {
		if got := foldDeferred(tt.burst, tt.waited); got != tt.want {
			t.Errorf("foldDeferred(%v, %v) = %v, want %v", tt.burst, tt.waited, got, tt.want)
		}
	}
}

// dispatchHarness runs dispatch with a commit that reports each group and waits to be released.
type dispatchHarness struct {
	s       *Service
	groups  chan []string
	release chan struct{}
	closed  chan struct{} // ends the commits still held when the test ends
}

func startDispatch(t *testing.T, committers int, gather time.Duration) *dispatchHarness {
	t.Helper()
	h := &dispatchHarness{
		// An unbuffered queue: a send returns once dispatch has taken the callback.
		s:       &Service{queue: make(chan *pending), stop: make(chan struct{}), opts: Options{Committers: committers, MaxBatch: 256}, gatherLimit: gather},
		groups:  make(chan []string),
		release: make(chan struct{}),
		closed:  make(chan struct{}),
	}
	h.s.wg.Add(1)
	go h.s.dispatch(func(b []*pending) {
		var ids []string
		for _, p := range b {
			ids = append(ids, p.it.rec.ID)
		}
		select {
		case h.groups <- ids:
		case <-h.closed:
			return
		}
		select {
		case <-h.release:
		case <-h.closed:
		}
	})
	t.Cleanup(func() {
		select {
		case <-h.s.stop:
		default:
			close(h.s.stop)
		}
		close(h.closed)
		h.s.wg.Wait()
	})
	return h
}

func (h *dispatchHarness) send(ids ...int) {
	for _, id := range ids {
		h.s.queue <- &pending{it: item{rec: Record{ID: fmt.Sprint(id)}}}
	}
}

func (h *dispatchHarness) next(t *testing.T) []string {
	t.Helper()
	select {
	case g := <-h.groups:
		return g
	case <-time.After(10 * time.Second):
		t.Fatal("no group commit started")
		return nil
	}
}

func TestDispatchGathersBehindACommitInFlight(t *testing.T) {
	t.Parallel()
	h := startDispatch(t, 4, time.Hour)
	h.send(1)
	if g := h.next(t); !slices.Equal(g, []string{"1"}) {
		t.Fatalf("first group %v", g)
	}
	// Four committers, but the callbacks arriving while the first commits wait for it and
	// go together.
	h.send(2, 3, 4, 5)
	h.release <- struct{}{}
	if g := h.next(t); !slices.Equal(g, []string{"2", "3", "4", "5"}) {
		t.Fatalf("second group %v, want the four gathered", g)
	}
}

func TestDispatchStartsBesideASlowCommit(t *testing.T) {
	t.Parallel()
	h := startDispatch(t, 2, time.Millisecond)
	h.send(1)
	if g := h.next(t); !slices.Equal(g, []string{"1"}) {
		t.Fatalf("first group %v", g)
	}
	// The first commit is held; after gatherLimit the next group starts beside it.
	h.send(2)
	if g := h.next(t); !slices.Equal(g, []string{"2"}) {
		t.Fatalf("second group %v", g)
	}
	// Both committers are busy: the third waits for one of them.
	h.send(3)
	select {
	case g := <-h.groups:
		t.Fatalf("group %v started with two commits in flight of at most two", g)
	default:
	}
	h.release <- struct{}{}
	if g := h.next(t); !slices.Equal(g, []string{"3"}) {
		t.Fatalf("third group %v", g)
	}
}

func TestDispatchAnswersWhatItGatheredAtStop(t *testing.T) {
	t.Parallel()
	h := startDispatch(t, 1, time.Hour)
	h.send(1)
	h.next(t)
	h.send(2, 3)
	close(h.s.stop)
	h.release <- struct{}{}
	if g := h.next(t); !slices.Equal(g, []string{"2", "3"}) {
		t.Fatalf("group at stop %v", g)
	}
}
