package callback

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// publishTxTimeout bounds each transaction of a publish group commit: the merged one and
// each retry of a call on its own, every one with a deadline of its own (issue 16: retries
// that shared one deadline ran out of it together).
const publishTxTimeout = 10 * time.Second

// publishGroup is the group commit of Engine.Publish: calls that arrive while a commit is in
// flight wait, and the next commit records all of them (up to MaxPublishBatch messages) in
// one transaction, so a commit's round trips and fsync are shared. There is no delay to
// gather calls: the group is whatever arrived during the previous commit, so a lone call
// commits at once and a busy API commits in large groups.
//
// No goroutine of its own does the work: the first call of a group leads it, in its own
// goroutine, and when the commit is done hands the lead to the first call that waited
// meanwhile; so nothing has to be started or stopped, and a commit in flight ends with the
// call (the HTTP request) that leads it: shutting the server down gracefully finishes it.
// One commit is in flight at a time, which keeps each subject's sequence in the order the
// calls took their turns.
//
// The zero value is ready to use.
type publishGroup struct {
	mu      sync.Mutex
	leading bool           // a call leads a group: committing, or handing the lead on
	queue   []*publishCall // calls waiting for the next group, in arrival order

	// Tests only: queued is called (under mu) with the number of calls waiting after each
	// arrival; hold is called by each leader before it takes its group.
	queued func(n int)
	hold   func()
}

// publishCall is one Publish waiting for, or in, a group commit.
type publishCall struct {
	ctx   context.Context
	items []item
	// wake gets one value when the call is to lead the next group (lead is then true) and
	// one when its outcome (out, err) is set; it has room for both, so no sender blocks.
	wake chan struct{}
	lead bool
	out  []enqueued
	err  error
}

// record writes items through e's queue in a group commit and returns what enqueue did
// with them (in items' order) once the group's transaction is committed.
func (g *publishGroup) record(ctx context.Context, e *Engine, items []item) ([]enqueued, error) {
	c := &publishCall{ctx: ctx, items: items, wake: make(chan struct{}, 2)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	first := !g.leading
	if first {
		g.leading, c.lead = true, true
	}
	if g.queued != nil {
		g.queued(len(g.queue))
	}
	g.mu.Unlock()
	if !first {
		select {
		case <-c.wake:
		case <-ctx.Done():
			g.mu.Lock()
			if i := slices.Index(g.queue, c); i >= 0 && !c.lead {
				g.queue = slices.Delete(g.queue, i, i+1)
				g.mu.Unlock()
				return nil, fmt.Errorf("callback: publish: %w", ctx.Err())
			}
			g.mu.Unlock()
			// The call is in a group already (its commit runs to its end under its own
			// deadline, and the caller learns the outcome), or leads the next one.
			<-c.wake
		}
	}
	// c.lead is read after a wake (its write happened before the send) or by the first call.
	if c.lead {
		g.lead(e)
	}
	return c.out, c.err
}

// lead takes the waiting calls as one group, commits it, answers its calls and hands the
// lead to the first call that arrived meanwhile (or ends it when none did). A call whose
// context ended before its turn is answered with that error and left out.
func (g *publishGroup) lead(e *Engine) {
	if g.hold != nil {
		g.hold()
	}
	g.mu.Lock()
	var group []*publishCall
	rows, n := 0, 0
	for _, c := range g.queue {
		if rows > 0 && rows+len(c.items) > MaxPublishBatch {
			break
		}
		n++
		if err := c.ctx.Err(); err != nil {
			c.err = fmt.Errorf("callback: publish: %w", err)
			c.wake <- struct{}{}
			continue
		}
		group = append(group, c)
		rows += len(c.items)
	}
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()

	answered := false
	defer func() {
		// Also when the commit panics: the calls are answered and the lead moves on, so
		// later calls are not left waiting for a leader that is gone.
		if !answered {
			for _, c := range group {
				c.out, c.err = nil, fmt.Errorf("callback: publish: the group commit failed")
			}
		}
		g.mu.Lock()
		for _, c := range group {
			c.wake <- struct{}{}
		}
		if len(g.queue) > 0 {
			next := g.queue[0]
			next.lead = true
			next.wake <- struct{}{}
		} else {
			g.leading = false
		}
		g.mu.Unlock()
	}()
	if len(group) > 0 {
		commitGroup(e, group)
	}
	answered = true
}

// commitGroup records the calls of group in one transaction and sets each call's outcome.
//
// When that transaction fails in one of its statements, each call is retried in a
// transaction of its own: a call the database refuses (a constraint, a value it cannot
// store) then fails alone, as it would have without the group, instead of failing every call
// that shared its turn. When it fails to begin or to commit, every call gets the error and
// none is retried: the database is likely unreachable, and a commit that failed may still
// have been applied, so recording the calls again could record them twice.
func commitGroup(e *Engine, group []*publishCall) {
	items := group[0].items
	if len(group) > 1 {
		items = nil
		for _, c := range group {
			items = append(items, c.items...)
		}
	}
	out, statement, err := publishTx(e, items)
	if err == nil {
		for _, c := range group {
			c.out, out = out[:len(c.items):len(c.items)], out[len(c.items):]
		}
		return
	}
	if len(group) == 1 || !statement {
		for _, c := range group {
			c.err = err
		}
		return
	}
	e.log.Warn("publish group commit failed; recording its calls one by one", "calls", len(group), "messages", len(items), "err", err)
	for _, c := range group {
		c.out, _, c.err = publishTx(e, c.items)
	}
}

// publishTx records items in one transaction under a deadline of its own, not the callers'
// contexts: once a group's turn has come, one caller going away must not roll back the
// others. statement reports that the error came from writing the items (not from beginning
// or committing).
func publishTx(e *Engine, items []item) (out []enqueued, statement bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), publishTxTimeout)
	defer cancel()
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = e.enqueue(ctx, tx, items, true)
		statement = err != nil
		return err
	})
	return out, statement, err
}
