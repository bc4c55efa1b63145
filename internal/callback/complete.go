package callback

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vaspgate/vaspgate/internal/store"
)

// complete records an attempt and its consequences in one transaction: the attempt log row,
// the delivery's new state (delivered, rescheduled, dead) and the endpoint's health. The
// delivery is only changed while this instance still holds its lease.
func (e *Engine) complete(ctx context.Context, c claimed, a attemptLog) error {
	now := e.now()
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
	errText := a.errText
	if len(errText) > 1024 {
		errText = errText[:1024]
	}
	return e.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO callback_attempts
			(delivery_id, n, instance, started_at, duration_us, status_code, outcome, error_code, error, response_body, response_truncated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.id, c.attempts+1, e.instance, store.Micros(a.started), a.duration.Microseconds(), a.status,
			a.result.Outcome.String(), a.result.Code, errText, a.body, boolInt(a.truncated)); err != nil {
			return fmt.Errorf("callback: attempt log: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE callback_deliveries SET status = CASE WHEN status = 'paused' AND ? = 'pending' THEN 'paused' ELSE ? END, tries = ?, attempts = attempts + 1,
			next_at = ?, lease_token = '', lease_until = 0,
			last_status = ?, last_error = ?, finished_at = ?
			WHERE id = ? AND lease_token = ?`,
			status, status, tries, nextAt, a.status, errText, finished, c.id, c.token)
		if err != nil {
			return fmt.Errorf("callback: update delivery: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			e.log.Warn("lease lost before the attempt was recorded", "delivery", c.id)
			return nil
		}
		e.metrics.outcome(status, a.result.Outcome)
		switch a.result.Outcome {
		case Delivered, Permanent:
			// The endpoint answered: it is healthy, whatever it thought of this delivery.
			if a.result.Code != CodeInvalidTarget && a.result.Code != CodeUnknown {
				return e.healthy(ctx, tx, c.endpointID, nowUS)
			}
			return nil
		case Gone:
			return e.disable(ctx, tx, c.endpointID, "410 Gone", nowUS)
		default:
			return e.failing(ctx, tx, c.endpointID, now)
		}
	})
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

// failing counts a failed attempt against the endpoint: after CircuitThreshold consecutive
// failures its circuit opens (paused for a cooldown that doubles per failed probe); after
// DisableAfter of nothing but failures it is disabled.
func (e *Engine) failing(ctx context.Context, tx *store.Tx, endpointID string, now time.Time) error {
	nowUS := store.Micros(now)
	var failures, trips int
	var since int64
	if err := tx.QueryRowContext(ctx, `UPDATE callback_endpoints SET failures = failures + 1,
		failing_since = CASE WHEN failing_since = 0 THEN ? ELSE failing_since END, updated_at = ?
		WHERE id = ? RETURNING failures, failing_since, trips`, nowUS, nowUS, endpointID).Scan(&failures, &since, &trips); err != nil {
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

// disable stops deliveries to an endpoint; its open deliveries are paused, not dropped.
func (e *Engine) disable(ctx context.Context, tx *store.Tx, endpointID, reason string, nowUS int64) error {
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "?")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET state = 'disabled', disabled_reason = ?, updated_at = ?
		WHERE id = ?`, reason, nowUS, endpointID); err != nil {
		return fmt.Errorf("callback: disable endpoint: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE callback_deliveries SET status = 'paused' WHERE endpoint_id = ? AND status = 'pending'`,
		endpointID); err != nil {
		return fmt.Errorf("callback: pause deliveries: %w", err)
	}
	e.log.Warn("endpoint disabled", "endpoint", endpointID, "reason", reason)
	return nil
}
