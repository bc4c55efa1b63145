package callback

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// completion is a finished attempt waiting to be recorded. take says the worker would
// send its subject's next delivery at once (successor takeover) if the attempt delivered.
type completion struct {
	c    claimed
	a    attemptLog
	take bool
	done chan recordedAttempt
}

// recordedAttempt is what the worker learns once its attempt is recorded: an error (the
// lease will lapse and another attempt follow), or, when it asked to take over, the
// subject's next delivery leased to this instance (next.id empty when there is none).
type recordedAttempt struct {
	err  error
	next claimed
}

// maxTakeovers bounds how many deliveries of one subject a worker sends in a row by
// successor takeover before it gives its slot back to the claim rounds, so that a busy
// subject cannot keep a worker from the other subjects' due heads for long.
const maxTakeovers = 16

// maxBatch bounds how many attempts one recording transaction holds.
const maxBatch = 256

// recordTimeout bounds one recording transaction (each try has its own: a retry never
// inherits what an earlier try used up).
const recordTimeout = 15 * time.Second

// overlapBatch is how many finished attempts make a batch worth recording beside the ones
// already being recorded (up to the recorders' number): fewer wait for the recording in
// flight and go in the next batch with everything else that finished meanwhile.
const overlapBatch = maxBatch / 4

// recordBatches gathers finished attempts into batches and has record write each batch
// (in a goroutine of its own, at most recorders at a time) until completions is closed,
// then waits for every batch to be recorded.
//
// A batch goes to a recorder at once when nothing is being recorded: a lone attempt is
// recorded without delay. While a recording is in flight, what finishes meanwhile waits
// and goes in one batch after it, as a group commit does; only a batch of overlapBatch
// attempts (a backlog the recording in flight could not keep up with) is recorded beside
// it. Recording every batch as soon as a recorder was free instead (four recorders, each
// taking what had finished) cut the batches to about five attempts in bench delivery
// --via-http, and each batch's statements, round trips and commit cost PostgreSQL about
// 40 % more CPU per event than one recorder's batches (issue 16, ninth pass).
//
// A batch that reaches maxBatch while every recorder is busy stops the gathering: workers
// then wait to hand over their attempts (completions is buffered for all of them).
func recordBatches(completions <-chan completion, recorders int, record func([]completion)) {
	finished := make(chan struct{}, recorders) // a recorder's batch is recorded
	var wg sync.WaitGroup
	inflight := 0
	var batch []completion
	in := completions
	for in != nil || len(batch) > 0 {
		if len(batch) > 0 && (inflight == 0 || (len(batch) >= overlapBatch && inflight < recorders)) {
			// Take what has already finished too (nothing once in is closed: a nil channel is
			// never ready), then hand the batch over.
		fill:
			for len(batch) < maxBatch {
				select {
				case c, ok := <-in:
					if !ok {
						in = nil
						break fill
					}
					batch = append(batch, c)
				default:
					break fill
				}
			}
			b := batch
			batch = make([]completion, 0, len(b))
			inflight++
			wg.Add(1)
			go func() {
				defer wg.Done()
				record(b)
				finished <- struct{}{}
			}()
			continue
		}
		recv := in
		if len(batch) >= maxBatch {
			recv = nil // full: wait for a recorder
		}
		select {
		case c, ok := <-recv:
			if !ok {
				in = nil
				continue
			}
			batch = append(batch, c)
		case <-finished:
			inflight--
		}
	}
	wg.Wait()
}

// recordBatch records a batch in one transaction and tells each attempt's worker the
// outcome; when that transaction fails, each attempt is recorded on its own.
func (e *Engine) recordBatch(batch []completion) {
	next, err := e.recordOnce(batch)
	if err == nil {
		for _, c := range batch {
			k := subjectKey{c.c.endpointID, c.c.subject}
			n := next[k]
			delete(next, k) // one worker per successor
			c.done <- recordedAttempt{next: n}
		}
		return
	}
	// A transient failure (a deadlock victim, a connection reset, a slow disk) must not
	// leave a sent delivery leased with no attempt recorded, holding its subject back
	// until the lease lapses and then sent again; and one bad row must not cost the
	// others their record. So each attempt is retried on its own until it is recorded
	// or its lease has lapsed (another instance owns the delivery then).
	e.log.Warn("record attempts: retrying one by one", "batch", len(batch), "err", err)
	for _, c := range batch {
		c.done <- recordedAttempt{err: e.recordPersistently(c)}
	}
}

// recordOnce records a batch in one transaction under its own timeout, and returns the
// successors leased for the workers that asked (by subject).
func (e *Engine) recordOnce(batch []completion) (map[subjectKey]claimed, error) {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	return e.record(ctx, batch)
}

// recordPersistently retries one attempt's record with a growing pause until it succeeds
// or the delivery's lease has lapsed plus a margin (the result is moot then: whoever holds
// the new lease records its own attempt).
func (e *Engine) recordPersistently(c completion) error {
	giveUp := time.Now().Add(e.cfg.Lease + recordTimeout)
	pause := 20 * time.Millisecond
	for {
		c.take = false // a retry only records
		_, err := e.recordOnce([]completion{c})
		if err == nil || time.Now().After(giveUp) {
			return err
		}
		time.Sleep(pause) // back-off between retries of a failed write, not synchronisation
		pause = min(2*pause, time.Second)
	}
}

// record decides each attempt's consequence (done, retried on the schedule, or dead) and
// writes the batch through the queue; subjects a business transaction held are promoted
// right after, each in its own transaction. The workers that delivered and asked to take
// over get their subject's next delivery leased in the same transaction (returned by
// subject): no claim round between one delivery of a subject and the next.
func (e *Engine) record(ctx context.Context, batch []completion) (map[subjectKey]claimed, error) {
	now := e.now()
	outs := make([]outcome, len(batch))
	var tk *takeover
	for i, x := range batch {
		outs[i] = e.decide(x.c, x.a, now)
		if x.take && outs[i].status == StatusDelivered {
			if tk == nil {
				// Leases measure process liveness: wall clock, as the claim's.
				tk = &takeover{token: newToken(), until: store.Micros(time.Now().Add(e.cfg.Lease)),
					due: store.Micros(now.Add(e.cfg.Lease)), keys: map[subjectKey]bool{}}
			}
			tk.keys[subjectKey{x.c.endpointID, x.c.subject}] = true
		}
	}
	hp := healthPolicy{threshold: e.cfg.CircuitThreshold, cooldown: e.cfg.CircuitCooldown,
		maxCooldown: e.cfg.CircuitMaxCooldown, disableAfter: e.cfg.DisableAfter}
	res, err := e.q.record(ctx, e.instance, outs, hp, now, tk)
	if err != nil {
		return nil, err
	}
	var next map[subjectKey]claimed
	if len(res.next) > 0 {
		next = make(map[subjectKey]claimed, len(res.next))
		for _, c := range res.next {
			next[subjectKey{c.endpointID, c.subject}] = c
		}
	}
	if res.left > 0 {
		e.Wake() // promoted heads no worker took over are due now
	}
	nowUS := store.Micros(now)
	for i, o := range outs {
		if !res.applied[i] {
			e.log.Warn("lease lost before the attempt was recorded", "delivery", o.c.id)
			continue
		}
		e.metrics.outcome(o.status)
		if d := time.Duration(o.nextAt-nowUS) * time.Microsecond; o.status == StatusPending && d < e.cfg.PollInterval {
			time.AfterFunc(d, e.Wake) // a retry due before the next poll
		}
	}
	if len(res.deferred) > 0 {
		if err := e.q.promoteAfter(ctx, res.deferred, store.Micros(e.now())); err != nil {
			// Noted in callback_recheck in the same commit: the sweep finishes it.
			e.log.Warn("promote after a concurrent recording", "err", err)
		}
		e.Wake()
	}
	return next, nil
}

// decide computes a delivery's next state after an attempt.
func (e *Engine) decide(c claimed, a attemptLog, now time.Time) outcome {
	o := outcome{c: c, a: a, status: StatusPending, tries: c.tries + 1}
	switch a.result.Outcome {
	case Delivered:
		o.status = StatusDelivered
	case Permanent, Gone:
		o.status = StatusFailed
	default:
		if d, ok := e.policy.Next(o.tries, a.result, a.retryAfter); ok {
			o.nextAt = store.Micros(now.Add(d))
		} else {
			o.status = StatusFailed
		}
	}
	if o.status != StatusPending {
		o.finished = store.Micros(now)
	}
	return o
}

func clip(s string) string {
	if len(s) > 1024 {
		s = strings.ToValidUTF8(s[:1024], "")
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
