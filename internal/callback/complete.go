package callback

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vaspgate/vaspgate/internal/store"
)

// completion is a finished attempt waiting to be recorded.
type completion struct {
	c    claimed
	a    attemptLog
	done chan error
}

// maxBatch bounds how many attempts one recording transaction holds.
const maxBatch = 256

// completer records finished attempts in batches: one transaction (one commit, one fsync)
// for every attempt that finished meanwhile, which is what lets a 2-core machine record
// thousands of deliveries a second. It returns when completions is closed and drained.
func (e *Engine) completer(completions <-chan completion) {
	batch := make([]completion, 0, maxBatch)
	for first := range completions {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case c, ok := <-completions:
				if !ok {
					break fill
				}
				batch = append(batch, c)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := e.record(ctx, batch)
		if err != nil {
			// One bad row must not cost the others their record, and a transient failure
			// (a deadlock victim, a connection reset) must not leave a sent delivery to be
			// sent again when its lease lapses: retry one by one, a few times.
			e.log.Warn("record attempts: retrying one by one", "batch", len(batch), "err", err)
			for _, c := range batch {
				var err error
				for try := range 4 {
					if err = e.record(ctx, []completion{c}); err == nil {
						break
					}
					time.Sleep(time.Duration(try+1) * 50 * time.Millisecond) // back-off between retries
				}
				c.done <- err
			}
		} else {
			for _, c := range batch {
				c.done <- err
			}
		}
		cancel()
	}
}

// record writes attempts and their consequences in one transaction: the attempt log rows,
// each delivery's new state (delivered, rescheduled, dead) and its endpoint's health. A
// delivery is only changed while this instance still holds its lease.
func (e *Engine) record(ctx context.Context, batch []completion) error {
	now := e.now()
	nowUS := store.Micros(now)
	var outcomes []string
	var recheck [][2]string
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		outcomes, recheck = outcomes[:0], recheck[:0]
		var q strings.Builder
		q.WriteString(`INSERT INTO callback_attempts
			(delivery_id, n, instance, started_at, duration_us, status_code, outcome, error_code, error, response_body, response_truncated) VALUES `)
		args := make([]any, 0, 11*len(batch))
		for i, x := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			a := x.a
			args = append(args, x.c.id, x.c.attempts+1, e.instance, store.Micros(a.started), a.duration.Microseconds(), a.status,
				a.result.Outcome.String(), a.result.Code, clip(a.errText), a.body, boolInt(a.truncated))
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("callback: attempt log: %w", err)
		}
		// Endpoint rows are locked in one order (endpoint, then subject) by every recorder,
		// so overlapping recording transactions cannot deadlock on them.
		slices.SortFunc(batch, func(a, b completion) int {
			return cmp.Or(cmp.Compare(a.c.endpointID, b.c.endpointID), cmp.Compare(a.c.subject, b.c.subject))
		})
		// Endpoint health is applied after every delivery, one endpoint at a time in id
		// order, so that overlapping recorders take endpoint row locks in the same order.
		type health struct {
			answered, gone bool
			failures       int
		}
		effects := map[string]*health{}
		for _, x := range batch {
			status, err := e.apply(ctx, tx, x.c, x.a, now, &recheck)
			if err != nil {
				return err
			}
			outcomes = append(outcomes, status)
			if status == "" {
				continue // lease lost: another instance owns the delivery and its effects
			}
			h := effects[x.c.endpointID]
			if h == nil {
				h = &health{}
				effects[x.c.endpointID] = h
			}
			switch o := x.a.result; {
			case o.Outcome == Gone:
				h.gone = true
			case o.Outcome == Retry:
				h.failures++
			case o.Outcome == Delivered, o.Outcome == Permanent && o.Code == CodeHTTP:
				// The endpoint answered: it is healthy, whatever it thought of this delivery.
				h.answered = true
			}
		}
		for _, id := range slices.Sorted(maps.Keys(effects)) {
			h := effects[id]
			var err error
			switch {
			case h.gone:
				err = e.disable(ctx, tx, id, "410 Gone", nowUS)
			case h.answered:
				err = e.healthy(ctx, tx, id, nowUS)
			case h.failures > 0:
				err = e.failing(ctx, tx, id, h.failures, now)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		e.promoteAfter(ctx, recheck)
		for _, o := range outcomes {
			if o != "" {
				e.metrics.outcome(o)
			}
		}
	}
	return err
}

func clip(s string) string {
	if len(s) > 1024 {
		s = strings.ToValidUTF8(s[:1024], "")
	}
	return s
}

// apply moves one delivery to its next state after an attempt and returns that state, or ""
// when the lease was lost (another instance owns the delivery now).
func (e *Engine) apply(ctx context.Context, tx *store.Tx, c claimed, a attemptLog, now time.Time, recheck *[][2]string) (string, error) {
	nowUS := store.Micros(now)
	status, nextAt := StatusPending, int64(0)
	tries := c.tries + 1
	switch a.result.Outcome {
	case Delivered:
		status = StatusDelivered
	case Permanent, Gone:
		status = StatusFailed
	default:
		if d, ok := e.policy.Next(tries, a.result, a.retryAfter); ok {
			nextAt = store.Micros(now.Add(d))
		} else {
			status = StatusFailed
		}
	}
	finished := int64(0)
	if status != StatusPending {
		finished = nowUS
	}
	res, err := tx.ExecContext(ctx, `UPDATE callback_deliveries SET status = ?, tries = ?, attempts = attempts + 1,
		next_at = ?, lease_token = '', lease_until = 0,
		last_status = ?, last_error = ?, finished_at = ?
		WHERE id = ? AND lease_token = ?`,
		status, tries, nextAt, a.status, clip(a.errText), finished, c.id, c.token)
	if err != nil {
		return "", fmt.Errorf("callback: update delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		e.log.Warn("lease lost before the attempt was recorded", "delivery", c.id)
		return "", nil
	}
	if status != StatusPending {
		// The head is done: the next delivery of its subject becomes the head.
		if e.db.Dialect() == store.Postgres {
			// A transaction recording a delivery for this subject right now holds the
			// subject row; its delivery, invisible here, was queued behind the head we just
			// finished. Note the subject to promote again once that transaction ends (never
			// wait for it here: holding other rows while waiting on a business transaction
			// could deadlock with it). Taking the row first matters: a recording that
			// commits after this point waits for us, one that committed before is seen by
			// the promotion below.
			var got string
			err := tx.QueryRowContext(ctx, `SELECT subject FROM callback_subjects WHERE endpoint_id = ? AND subject = ?
				FOR UPDATE SKIP LOCKED`, c.endpointID, c.subject).Scan(&got)
			if errors.Is(err, sql.ErrNoRows) {
				*recheck = append(*recheck, [2]string{c.endpointID, c.subject})
			} else if err != nil {
				return "", fmt.Errorf("callback: subject lock: %w", err)
			}
		}
		if err := promoteNext(ctx, tx, c.endpointID, c.subject, nowUS); err != nil {
			return "", err
		}
	}
	return status, nil
}

// promoteAfter waits for the transactions that were recording deliveries of these subjects
// (by taking each subject row in turn, holding nothing else) and promotes their next
// delivery if it is still without a head. A lost promotion is caught by the sweep, so these
// commits need not wait for the WAL flush.
func (e *Engine) promoteAfter(ctx context.Context, subjects [][2]string) {
	for _, s := range subjects {
		err := e.db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE callback_subjects SET last_seq = last_seq WHERE endpoint_id = ? AND subject = ?`, s[0], s[1]); err != nil {
				return err
			}
			return promoteNext(ctx, tx, s[0], s[1], store.Micros(e.now()))
		})
		if err != nil {
			e.log.Warn("promote after a concurrent recording", "endpoint", s[0], "err", err)
		}
	}
	if len(subjects) > 0 {
		e.Wake()
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// healthy closes the endpoint's circuit and forgets its failures. The WHERE keeps the
// common case (nothing to reset) from writing, so healthy endpoints see no row contention.
func (e *Engine) healthy(ctx context.Context, tx *store.Tx, endpointID string, nowUS int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET failures = 0, failing_since = 0, circuit_until = 0,
		trips = 0, updated_at = ? WHERE id = ? AND (failures > 0 OR circuit_until > 0)`, nowUS, endpointID); err != nil {
		return fmt.Errorf("callback: endpoint health: %w", err)
	}
	return nil
}

// failing counts n failed attempts against the endpoint: after CircuitThreshold consecutive
// failures its circuit opens (paused for a cooldown that doubles per failed probe); after
// DisableAfter of nothing but failures it is disabled.
func (e *Engine) failing(ctx context.Context, tx *store.Tx, endpointID string, n int, now time.Time) error {
	nowUS := store.Micros(now)
	var failures, trips int
	var since int64
	if err := tx.QueryRowContext(ctx, `UPDATE callback_endpoints SET failures = failures + ?,
		failing_since = CASE WHEN failing_since = 0 THEN ? ELSE failing_since END, updated_at = ?
		WHERE id = ? RETURNING failures, failing_since, trips`, n, nowUS, nowUS, endpointID).Scan(&failures, &since, &trips); err != nil {
		return fmt.Errorf("callback: endpoint health: %w", err)
	}
	if now.Sub(store.FromMicros(since)) >= e.cfg.DisableAfter {
		return e.disable(ctx, tx, endpointID, fmt.Sprintf("failing since %s", store.FromMicros(since).Format(time.RFC3339)), nowUS)
	}
	if failures >= e.cfg.CircuitThreshold {
		cool := e.cfg.CircuitCooldown << min(trips, 20)
		if cool > e.cfg.CircuitMaxCooldown || cool <= 0 {
			cool = e.cfg.CircuitMaxCooldown
		}
		if _, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET circuit_until = ?, trips = trips + 1 WHERE id = ?`,
			store.Micros(now.Add(cool)), endpointID); err != nil {
			return fmt.Errorf("callback: open circuit: %w", err)
		}
		if trips == 0 {
			e.log.Warn("endpoint circuit open", "endpoint", endpointID, "failures", failures, "cooldown", cool)
		}
	}
	return nil
}

// disable stops deliveries to an endpoint; its open deliveries are kept (shown as paused)
// and sent once it is enabled again.
func (e *Engine) disable(ctx context.Context, tx *store.Tx, endpointID, reason string, nowUS int64) error {
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "?")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET state = 'disabled', disabled_reason = ?, updated_at = ?
		WHERE id = ?`, reason, nowUS, endpointID); err != nil {
		return fmt.Errorf("callback: disable endpoint: %w", err)
	}
	e.log.Warn("endpoint disabled", "endpoint", endpointID, "reason", reason)
	return nil
}
