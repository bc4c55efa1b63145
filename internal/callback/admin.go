package callback

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// ErrNotFound is returned when a delivery or endpoint does not exist.
var ErrNotFound = errors.New("callback: not found")

// Delivery is one delivery as operators see it.
type Delivery struct {
	ID          string     `json:"id"`
	EndpointID  string     `json:"endpoint_id"`
	EndpointURL string     `json:"endpoint_url"`
	Subject     string     `json:"subject"`
	Seq         int64      `json:"seq"`
	EventID     string     `json:"event_id"`
	EventType   string     `json:"event_type"`
	OccurredAt  time.Time  `json:"occurred_at"`
	CreatedAt   time.Time  `json:"created_at"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	NextAt      *time.Time `json:"next_attempt_at,omitempty"`
	LastStatus  int        `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	// Body and AttemptLog are filled by Delivery (one), not by Deliveries (lists).
	Body       []byte    `json:"-"`
	AttemptLog []Attempt `json:"attempt_log,omitempty"`
}

// Attempt is one HTTP try of a delivery.
type Attempt struct {
	N                 int           `json:"n"`
	Instance          string        `json:"instance"`
	StartedAt         time.Time     `json:"started_at"`
	Duration          time.Duration `json:"duration_ns"`
	StatusCode        int           `json:"status_code,omitempty"`
	Outcome           string        `json:"outcome"`
	ErrorCode         string        `json:"error_code,omitempty"`
	Error             string        `json:"error,omitempty"`
	ResponseBody      string        `json:"response_body,omitempty"`
	ResponseTruncated bool          `json:"response_truncated,omitempty"`
}

// Endpoint is one destination and its health.
type Endpoint struct {
	ID             string     `json:"id"`
	Kind           string     `json:"kind"`
	URL            string     `json:"url"`
	State          string     `json:"state"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	Failures       int        `json:"consecutive_failures"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	CircuitOpen    bool       `json:"circuit_open"`
	CircuitUntil   *time.Time `json:"circuit_until,omitempty"`
	Pending        int64      `json:"pending"`
	Failed         int64      `json:"failed"`
}

// Filter selects deliveries; empty fields match everything. Cursor is the NextCursor of the
// previous page.
type Filter struct {
	Status     string
	EndpointID string
	Subject    string
	Cursor     string
	Limit      int
}

func optTime(us int64) *time.Time {
	if us == 0 {
		return nil
	}
	t := store.FromMicros(us)
	return &t
}

const deliveryCols = `d.id, d.endpoint_id, e.url, e.state, d.subject, d.seq, d.event_id, d.event_type, d.occurred_at, d.created_at,
	d.status, d.attempts, d.next_at, d.last_status, d.last_error, d.finished_at`

func scanDelivery(sc interface{ Scan(...any) error }, extra ...any) (Delivery, error) {
	var d Delivery
	var state string
	var occ, created, next, fin int64
	dst := append([]any{&d.ID, &d.EndpointID, &d.EndpointURL, &state, &d.Subject, &d.Seq, &d.EventID, &d.EventType, &occ, &created,
		&d.Status, &d.Attempts, &next, &d.LastStatus, &d.LastError, &fin}, extra...)
	err := sc.Scan(dst...)
	d.OccurredAt, d.CreatedAt = store.FromMicros(occ), store.FromMicros(created)
	if d.Status == StatusPending {
		d.NextAt = optTime(next)
	}
	if state == "disabled" && (d.Status == StatusPending || d.Status == StatusQueued) {
		d.Status, d.NextAt = StatusPaused, nil
	}
	d.FinishedAt = optTime(fin)
	return d, err
}

// Deliveries lists deliveries newest first, a page at a time (Limit default 50, at most
// 500). The cursor is the last id of the page: ids are UUIDv7, so they sort by creation.
func (e *Engine) Deliveries(ctx context.Context, f Filter) (list []Delivery, nextCursor string, err error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	switch f.Status {
	case "":
	case StatusPaused:
		where = append(where, "d.status IN ('pending', 'queued') AND e.state = 'disabled'")
	case StatusPending, StatusQueued:
		where = append(where, "e.state = 'enabled'")
		add("d.status = ?", f.Status)
	default:
		add("d.status = ?", f.Status)
	}
	if f.EndpointID != "" {
		add("d.endpoint_id = ?", f.EndpointID)
	}
	if f.Subject != "" {
		add("d.subject = ?", f.Subject)
	}
	if f.Cursor != "" {
		add("d.id < ?", f.Cursor)
	}
	q := `SELECT ` + deliveryCols + ` FROM callback_deliveries d JOIN callback_endpoints e ON e.id = d.endpoint_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.id DESC LIMIT ?"
	args = append(args, f.Limit+1)
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("callback: list deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, "", fmt.Errorf("callback: list deliveries: %w", err)
		}
		list = append(list, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("callback: list deliveries: %w", err)
	}
	if len(list) > f.Limit {
		list = list[:f.Limit]
		nextCursor = list[len(list)-1].ID
	}
	return list, nextCursor, nil
}

// Delivery returns one delivery with its body and every attempt.
func (e *Engine) Delivery(ctx context.Context, id string) (Delivery, error) {
	row := e.db.QueryRowContext(ctx, `SELECT `+deliveryCols+`, d.body FROM callback_deliveries d
		JOIN callback_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?`, id)
	var body []byte
	d, err := scanDelivery(row, &body)
	d.Body = body
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("callback: delivery %s: %w", id, err)
	}
	rows, err := e.db.QueryContext(ctx, `SELECT n, instance, started_at, duration_us, status_code, outcome, error_code, error,
		response_body, response_truncated FROM callback_attempts WHERE delivery_id = ? ORDER BY n, id`, id)
	if err != nil {
		return d, fmt.Errorf("callback: attempts of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Attempt
		var started, dur int64
		var body []byte
		var trunc int
		if err := rows.Scan(&a.N, &a.Instance, &started, &dur, &a.StatusCode, &a.Outcome, &a.ErrorCode, &a.Error, &body, &trunc); err != nil {
			return d, fmt.Errorf("callback: attempts of %s: %w", id, err)
		}
		a.StartedAt, a.Duration, a.ResponseBody, a.ResponseTruncated = store.FromMicros(started), time.Duration(dur)*time.Microsecond, string(body), trunc == 1
		d.AttemptLog = append(d.AttemptLog, a)
	}
	return d, rows.Err()
}

// Replay sends a failed (or delivered) delivery again, with a fresh retry schedule. It
// goes next in its subject: at once when the subject has nothing pending, else right after
// the delivery in flight. To a disabled endpoint it waits (paused) until it is enabled.
func (e *Engine) Replay(ctx context.Context, id string) error {
	d, err := e.Delivery(ctx, id)
	if err != nil {
		return err
	}
	if d.Status != StatusFailed && d.Status != StatusDelivered {
		return fmt.Errorf("callback: replay %s: it is %s, not failed or delivered", id, d.Status)
	}
	if err := e.requeue(ctx, d.EndpointID, `id = ?`, id); err != nil {
		return fmt.Errorf("callback: replay %s: %w", id, err)
	}
	e.Wake()
	return nil
}

// ReplayEndpoint replays every failed delivery of an endpoint created at or after since and
// reports how many.
func (e *Engine) ReplayEndpoint(ctx context.Context, endpointID string, since time.Time) (int64, error) {
	if _, err := e.Endpoint(ctx, endpointID); err != nil {
		return 0, err
	}
	n, err := e.requeueCount(ctx, endpointID, `status = 'failed' AND created_at >= ?`, store.Micros(since))
	if err != nil {
		return 0, fmt.Errorf("callback: replay endpoint %s: %w", endpointID, err)
	}
	e.Wake()
	return n, nil
}

func (e *Engine) requeue(ctx context.Context, endpointID, cond string, args ...any) error {
	n, err := e.requeueCount(ctx, endpointID, cond, args...)
	if err == nil && n == 0 {
		err = errors.New("nothing to replay")
	}
	return err
}

// requeueCount queues the endpoint's deliveries matching cond again, then gives each
// affected subject a head if it has none. The subject rows are locked first, so a
// concurrent enqueue of the same subject sees the queued rows (or commits before them).
func (e *Engine) requeueCount(ctx context.Context, endpointID, cond string, args ...any) (int64, error) {
	var n int64
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		nowUS := store.Micros(e.now())
		sel := `SELECT DISTINCT subject FROM callback_deliveries WHERE endpoint_id = ? AND status IN ('failed', 'delivered') AND ` + cond
		rows, err := tx.QueryContext(ctx, sel, append([]any{endpointID}, args...)...)
		if err != nil {
			return err
		}
		var subjects []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return err
			}
			subjects = append(subjects, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slices.Sort(subjects)
		for _, s := range subjects {
			if _, err := tx.ExecContext(ctx, `UPDATE callback_subjects SET last_seq = last_seq WHERE endpoint_id = ? AND subject = ?`, endpointID, s); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE callback_deliveries SET status = 'queued', tries = 0, next_at = ?, finished_at = 0,
			lease_token = '', lease_until = 0 WHERE endpoint_id = ? AND status IN ('failed', 'delivered') AND `+cond,
			append([]any{nowUS, endpointID}, args...)...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		for _, s := range subjects {
			if err := promoteNext(ctx, tx, endpointID, s, nowUS); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

const endpointCols = `e.id, e.kind, e.url, e.state, e.disabled_reason, e.failures, e.failing_since, e.circuit_until,
	(SELECT COUNT(*) FROM callback_deliveries d WHERE d.endpoint_id = e.id AND d.status IN ('pending', 'queued')),
	(SELECT COUNT(*) FROM callback_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'failed')`

func (e *Engine) scanEndpoint(sc interface{ Scan(...any) error }) (Endpoint, error) {
	var ep Endpoint
	var since, until int64
	err := sc.Scan(&ep.ID, &ep.Kind, &ep.URL, &ep.State, &ep.DisabledReason, &ep.Failures, &since, &until, &ep.Pending, &ep.Failed)
	ep.FailingSince = optTime(since)
	if until > store.Micros(e.now()) {
		ep.CircuitOpen, ep.CircuitUntil = true, optTime(until)
	}
	return ep, err
}

// Endpoints lists every endpoint with its health and open/failed counts.
func (e *Engine) Endpoints(ctx context.Context) ([]Endpoint, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT `+endpointCols+` FROM callback_endpoints e ORDER BY e.kind, e.url`)
	if err != nil {
		return nil, fmt.Errorf("callback: list endpoints: %w", err)
	}
	defer rows.Close()
	var out []Endpoint
	for rows.Next() {
		ep, err := e.scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("callback: list endpoints: %w", err)
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}

// Endpoint returns one endpoint.
func (e *Engine) Endpoint(ctx context.Context, id string) (Endpoint, error) {
	ep, err := e.scanEndpoint(e.db.QueryRowContext(ctx, `SELECT `+endpointCols+` FROM callback_endpoints e WHERE e.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ep, ErrNotFound
	}
	if err != nil {
		return ep, fmt.Errorf("callback: endpoint %s: %w", id, err)
	}
	return ep, nil
}

// SetEndpointEnabled enables an endpoint (closing its circuit, forgetting its failures and
// sending its paused deliveries at once) or disables it (its open deliveries wait, paused).
func (e *Engine) SetEndpointEnabled(ctx context.Context, id string, enabled bool) error {
	if _, err := e.Endpoint(ctx, id); err != nil {
		return err
	}
	now := store.Micros(e.now())
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		if !enabled {
			return e.disable(ctx, tx, id, "disabled by an operator", now)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET state = 'enabled', disabled_reason = '', failures = 0,
			failing_since = 0, circuit_until = 0, trips = 0, updated_at = ? WHERE id = ?`, now, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE callback_deliveries SET tries = 0, next_at = ?
			WHERE endpoint_id = ? AND status = 'pending'`, now, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("callback: set endpoint %s enabled=%v: %w", id, enabled, err)
	}
	e.Wake()
	return nil
}
