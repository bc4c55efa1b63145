package callback

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// ErrNotFound is returned when a delivery or endpoint does not exist.
var ErrNotFound = errors.New("callback: not found")

// Delivery is one delivery as operators see it.
type Delivery struct {
	ID          string    `json:"id"`
	EndpointID  string    `json:"endpoint_id"`
	EndpointURL string    `json:"endpoint_url"`
	Subject     string    `json:"subject"`
	Seq         int64     `json:"seq"`
	EventID     string    `json:"event_id"`
	EventType   string    `json:"event_type"`
	OccurredAt  time.Time `json:"occurred_at"`
	CreatedAt   time.Time `json:"created_at"`
	// UpdatedAt is when it last changed: created, attempted, promoted or replayed.
	UpdatedAt  time.Time  `json:"updated_at"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	NextAt     *time.Time `json:"next_attempt_at,omitempty"`
	LastStatus int        `json:"last_status,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Body and AttemptLog are filled by Delivery (one), not by Deliveries (lists).
	Body       []byte    `json:"-"`
	AttemptLog []Attempt `json:"attempt_log,omitempty"`
	// rawStatus is the stored status (Status says paused for a disabled endpoint's open
	// deliveries), the value the status order sorts by.
	rawStatus string
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
	// LastSuccess is when a delivery to it last succeeded (to within a second: the engine
	// notes it at most once a second per endpoint).
	LastSuccess *time.Time `json:"last_success_at,omitempty"`
	Pending     int64      `json:"pending"`
	Failed      int64      `json:"failed"`
}

// Filter selects deliveries; empty fields match everything. Cursor is the NextCursor of the
// previous page.
type Filter struct {
	Status     string
	EndpointID string
	Subject    string
	Cursor     string
	Limit      int
	// Sort is the column the list is ordered by (SortCreated, the default, SortStatus,
	// SortUpdated or SortAttempts), newest (or highest) first.
	Sort string
	// Oldest lists in ascending order instead (oldest, lowest first).
	Oldest bool
	// Before keeps the deliveries whose id sorts below it (created before the time a
	// UUIDv7 of that time stands for), in either order.
	Before string
}

// The orders Deliveries can list in. Each walks indexes ending in the id, so that a page
// costs the same at any depth (migration 00075); the orders but creation in two parts, each
// with its own partial index, which recording a delivery delivered enters none of (00078,
// sortSegments).
const (
	SortCreated  = ""
	SortStatus   = "status"
	SortUpdated  = "updated"
	SortAttempts = "attempts"
)

// deliverySorts maps a Sort to its keyset.
var deliverySorts = map[string]store.Keyset{
	SortCreated:  {"d.id"},
	SortStatus:   {"d.status", "d.id"},
	SortUpdated:  {"d.updated_at", "d.id"},
	SortAttempts: {"d.attempts", "d.id"},
}

// ErrBadSort is returned for a Filter.Sort no list knows.
var ErrBadSort = errors.New("callback: deliveries sort by created, status, updated or attempts")

// cursorOf is the cursor continuing after d in the sort: its id alone for creation order
// (what the admin API and CLI have always given), else the sort column's value and the id.
func cursorOf(sort string, d Delivery) string {
	switch sort {
	case SortStatus:
		return store.Cursor(d.rawStatus, d.ID)
	case SortUpdated:
		return store.Cursor(store.Micros(d.UpdatedAt), d.ID)
	case SortAttempts:
		return store.Cursor(d.Attempts, d.ID)
	}
	return d.ID
}

// cursorArgs reads a cursor of the sort back into the keyset's values.
func cursorArgs(sort, c string) ([]any, error) {
	switch sort {
	case SortStatus:
		var st, id string
		err := store.ParseCursor(c, &st, &id)
		return []any{st, id}, err
	case SortUpdated:
		var at int64
		var id string
		err := store.ParseCursor(c, &at, &id)
		return []any{at, id}, err
	case SortAttempts:
		var n int
		var id string
		err := store.ParseCursor(c, &n, &id)
		return []any{n, id}, err
	}
	return []any{c}, nil
}

func optTime(us int64) *time.Time {
	if us == 0 {
		return nil
	}
	t := store.FromMicros(us)
	return &t
}

const deliveryCols = `d.id, d.endpoint_id, e.url, e.state, d.subject, d.seq, d.event_id, d.event_type, d.occurred_at, d.created_at,
	d.status, d.attempts, d.next_at, d.last_status, d.last_error, d.finished_at, d.updated_at`

func scanDelivery(sc interface{ Scan(...any) error }, extra ...any) (Delivery, error) {
	var d Delivery
	var state string
	var occ, created, next, fin, upd int64
	dst := append([]any{&d.ID, &d.EndpointID, &d.EndpointURL, &state, &d.Subject, &d.Seq, &d.EventID, &d.EventType, &occ, &created,
		&d.Status, &d.Attempts, &next, &d.LastStatus, &d.LastError, &fin, &upd}, extra...)
	err := sc.Scan(dst...)
	d.OccurredAt, d.CreatedAt, d.UpdatedAt, d.rawStatus = store.FromMicros(occ), store.FromMicros(created), store.FromMicros(upd), d.Status
	if d.Status == StatusPending {
		d.NextAt = optTime(next)
	}
	if state == "disabled" && (d.Status == StatusPending || d.Status == StatusQueued) {
		d.Status, d.NextAt = StatusPaused, nil
	}
	d.FinishedAt = optTime(fin)
	return d, err
}

// Admin serves the operators' side of the delivery engine — listing deliveries and
// endpoints, replay, enabling and disabling endpoints, retention — without starting
// anything or writing anything at construction: `vaspgate deliveries` and the admin API use
// it directly. An Engine carries one (its replays wake the engine at once; a standalone
// Admin's are picked up by the engines' next poll).
type Admin struct {
	q    *queue
	now  func() time.Time
	wake func()
}

// NewAdmin returns the operators' view of the deliveries in db.
func NewAdmin(db *store.DB) *Admin {
	return &Admin{q: &queue{db: db, log: slog.New(slog.DiscardHandler)}, now: time.Now, wake: func() {}}
}

// Deliveries lists deliveries newest first (oldest first with f.Oldest), or by f.Sort, a
// page at a time (Limit default 50, at most 500). In creation order the cursor is the last
// id of the page (ids are UUIDv7, so they sort by creation); in the other orders it is
// opaque. A cursor the list did not make is store.ErrBadCursor, an unknown sort ErrBadSort.
func (ad *Admin) Deliveries(ctx context.Context, f Filter) (list []Delivery, nextCursor string, err error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	list, err = ad.q.deliveries(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if len(list) > f.Limit {
		list = list[:f.Limit]
		nextCursor = cursorOf(f.Sort, list[len(list)-1])
	}
	return list, nextCursor, nil
}

// Delivery returns one delivery with its body and every attempt.
func (ad *Admin) Delivery(ctx context.Context, id string) (Delivery, error) {
	return ad.q.delivery(ctx, id)
}

// Replay sends a failed (or delivered) delivery again, with a fresh retry schedule. It
// goes next in its subject: at once when the subject has nothing pending, else right after
// the delivery in flight. To a disabled endpoint it waits (paused) until it is enabled.
func (ad *Admin) Replay(ctx context.Context, id string) error {
	d, err := ad.Delivery(ctx, id)
	if err != nil {
		return err
	}
	if d.Status != StatusFailed && d.Status != StatusDelivered {
		return fmt.Errorf("callback: replay %s: it is %s, not failed or delivered", id, d.Status)
	}
	n, err := ad.q.requeue(ctx, d.EndpointID, `id = ?`, store.Micros(ad.now()), id)
	if err == nil && n == 0 {
		err = errors.New("nothing to replay")
	}
	if err != nil {
		return fmt.Errorf("callback: replay %s: %w", id, err)
	}
	ad.wake()
	return nil
}

// ReplayEndpoint replays every failed delivery of an endpoint created at or after since and
// reports how many.
func (ad *Admin) ReplayEndpoint(ctx context.Context, endpointID string, since time.Time) (int64, error) {
	if _, err := ad.Endpoint(ctx, endpointID); err != nil {
		return 0, err
	}
	n, err := ad.q.requeue(ctx, endpointID, `status = 'failed' AND created_at >= ?`, store.Micros(ad.now()), store.Micros(since))
	if err != nil {
		return 0, fmt.Errorf("callback: replay endpoint %s: %w", endpointID, err)
	}
	ad.wake()
	return n, nil
}

// Endpoints lists every endpoint with its health and open/failed counts.
func (ad *Admin) Endpoints(ctx context.Context) ([]Endpoint, error) {
	return ad.q.endpoints(ctx, "", store.Micros(ad.now()))
}

// Endpoint returns one endpoint.
func (ad *Admin) Endpoint(ctx context.Context, id string) (Endpoint, error) {
	eps, err := ad.q.endpoints(ctx, id, store.Micros(ad.now()))
	if err != nil {
		return Endpoint{}, err
	}
	if len(eps) == 0 {
		return Endpoint{}, ErrNotFound
	}
	return eps[0], nil
}

// SetEndpointEnabled enables an endpoint (closing its circuit, forgetting its failures and
// sending its paused deliveries at once) or disables it (its open deliveries wait, paused).
func (ad *Admin) SetEndpointEnabled(ctx context.Context, id string, enabled bool) error {
	if _, err := ad.Endpoint(ctx, id); err != nil {
		return err
	}
	now := store.Micros(ad.now())
	var err error
	if enabled {
		err = ad.q.enable(ctx, id, now)
	} else {
		err = ad.q.db.InTx(ctx, func(tx *store.Tx) error { return ad.q.disable(ctx, tx, id, "disabled by an operator", now) })
	}
	if err != nil {
		return fmt.Errorf("callback: set endpoint %s enabled=%v: %w", id, enabled, err)
	}
	ad.wake()
	return nil
}

// sortPart is one part a sorted list is read in (migration 00078): the console's sort
// indexes leave out the rows of the common final state (delivered, or one attempt), which
// recording a delivery would otherwise enter into each of them.
type sortPart struct {
	// where is the part's predicate, written with its index's so that both engines'
	// planners take the partial index (SQLite's only when the term is there word for word).
	where string
	// fixed is the sort column's one value in this part (nil when it varies): the part is
	// then walked in id order and the cursor compared in Go.
	fixed any
	// status says which status filters the part can match: "delivered" only that one,
	// "open" every other, StatusPending or StatusQueued only that one (and paused, which
	// is either on a disabled endpoint), "" any.
	status string
}

// excludes reports that the part holds no row a list filtered by status (a Filter.Status)
// can show.
func (p sortPart) excludes(status string) bool {
	if status == "" || p.status == "" {
		return false
	}
	switch p.status {
	case StatusDelivered:
		return status != StatusDelivered
	case "open":
		return status == StatusDelivered
	}
	return status != p.status && status != StatusPaused
}

// attemptsIndexed is the predicate of the attempts index (migration 00092), word for word
// as SQLite needs to see it: the rows with other than one attempt but the open ones that
// were never attempted, which the status index holds.
const attemptsIndexed = "d.attempts <> 1 AND (d.attempts <> 0 OR d.status NOT IN ('pending', 'queued'))"

// sortSegments are the parts of each order but creation, as segments in ascending order:
// every row of a segment sorts before every row of the next, so a page reads the next
// segment only when the one before ran out (a list in the other direction reads them the
// other way round). The parts of one segment interleave and are merged in one statement.
// No stored status sorts before 'delivered' (failed, pending and queued after it). By
// attempts, the rows with none are the open ones never attempted, each status a range of
// the status index in id order, merged with the attempts index's (migration 00092).
var sortSegments = map[string][][]sortPart{
	SortStatus: {
		{{where: "d.status = 'delivered'", fixed: StatusDelivered, status: StatusDelivered}},
		{{where: "d.status <> 'delivered'", status: "open"}},
	},
	SortUpdated: {{
		{where: "d.status = 'delivered'", status: StatusDelivered},
		{where: "d.status <> 'delivered'", status: "open"},
	}},
	SortAttempts: {
		{
			{where: "d.status <> 'delivered' AND d.status = 'pending' AND d.attempts = 0", fixed: 0, status: StatusPending},
			{where: "d.status <> 'delivered' AND d.status = 'queued' AND d.attempts = 0", fixed: 0, status: StatusQueued},
			{where: attemptsIndexed + " AND d.attempts < 1"},
		},
		{{where: "d.attempts = 1", fixed: 1}},
		{{where: attemptsIndexed + " AND d.attempts > 1"}},
	},
}

// compareFixed compares a part's fixed sort value with the cursor's.
func compareFixed(fixed, cur any) int {
	switch v := fixed.(type) {
	case string:
		return strings.Compare(v, cur.(string))
	case int:
		return cmp.Compare(v, cur.(int))
	}
	panic(fmt.Sprintf("callback: sort value %T", fixed))
}

// listQuery is one statement of a page; its last argument is its LIMIT.
type listQuery struct {
	stmt string
	args []any
}

// deliveries reads one page (plus one row, to know whether there is a next page): the
// page's statements in order, each for the rows the ones before did not fill. A page that
// spans two segments reads them in two statements, so a delivery that changed between them
// may show on it twice or not at all, as it may across pages.
func (q *queue) deliveries(ctx context.Context, f Filter) ([]Delivery, error) {
	qs, err := deliveriesQueries(f)
	if err != nil {
		return nil, err
	}
	var list []Delivery
	for _, lq := range qs {
		need := f.Limit + 1 - len(list)
		if need <= 0 {
			break
		}
		lq.args[len(lq.args)-1] = need
		rows, err := q.db.QueryContext(ctx, lq.stmt, lq.args...)
		if err != nil {
			return nil, fmt.Errorf("callback: list deliveries: %w", err)
		}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("callback: list deliveries: %w", err)
			}
			list = append(list, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("callback: list deliveries: %w", err)
		}
	}
	return list, nil
}

// deliveriesQueries are the statements reading a page of f, in the list's order, each
// limited to the page's Limit rows and one more: one, except for a sorted list whose page
// spans segments (sortSegments); none when the cursor is past every row the filter can
// match.
func deliveriesQueries(f Filter) ([]listQuery, error) {
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
	if f.Before != "" {
		add("d.id < ?", f.Before)
	}
	// A status other than delivered is a range of the partial (status, id) index, in id
	// order: said as its predicate where the list is walked in id order, so that the
	// planners see the index fits. Not where the walk is a sort index's: PostgreSQL's
	// generic plan would take the status range and sort it, all of a status's dead
	// letters for a page.
	var inIDOrder []string
	if f.Status != "" && f.Status != StatusDelivered {
		inIDOrder = []string{"d.status <> 'delivered'"}
	}
	keys, ok := deliverySorts[f.Sort]
	if !ok {
		return nil, ErrBadSort
	}
	var after []any
	if f.Cursor != "" {
		var err error
		if after, err = cursorArgs(f.Sort, f.Cursor); err != nil {
			return nil, err
		}
	}
	const from = `SELECT ` + deliveryCols + ` FROM callback_deliveries d JOIN callback_endpoints e ON e.id = d.endpoint_id`
	desc := !f.Oldest
	// page is a statement ordered by keys, after the cursor's values of the last len(after)
	// of them, with where (and args) besides.
	page := func(where []string, args []any, after []any) listQuery {
		if after != nil {
			where, args = append(where, keys[len(keys)-len(after):].After(desc)), append(args, after...)
		}
		stmt := from
		if len(where) > 0 {
			stmt += " WHERE " + strings.Join(where, " AND ")
		}
		return listQuery{stmt + " ORDER BY " + keys.OrderBy(desc) + " LIMIT ?", append(args, f.Limit+1)}
	}
	segments, split := sortSegments[f.Sort]
	if !split {
		// Creation order is the primary key's (or a filter's own index, which ends in id).
		return []listQuery{page(append(where, inIDOrder...), args, after)}, nil
	}
	if desc {
		segments = slices.Clone(segments)
		slices.Reverse(segments)
	}
	var out []listQuery
	for _, seg := range segments {
		var parts []listQuery
		for _, p := range seg {
			if p.excludes(f.Status) {
				continue
			}
			w, a := append(slices.Clone(where), p.where), after
			if p.fixed != nil {
				w = append(w, inIDOrder...)
				// One value of the sort column: the part is in id order (the planners see
				// the column is constant), and the cursor either lies inside it (continue
				// after its id), before it (all of it) or after it (none of it).
				a = nil
				if after != nil {
					c := compareFixed(p.fixed, after[0])
					if desc {
						c = -c
					}
					if c < 0 {
						continue
					}
					if c == 0 {
						a = after[len(after)-1:]
					}
				}
			}
			parts = append(parts, page(w, slices.Clone(args), a))
		}
		switch len(parts) {
		case 0:
		case 1:
			out = append(out, parts[0])
		default:
			// Each part is a walk of its own index, limited to a page; the page is the
			// first rows of them all, merged. The outer order names the columns as the
			// parts return them (id, status, updated_at, attempts).
			outer := make(store.Keyset, len(keys))
			for i, k := range keys {
				outer[i] = strings.TrimPrefix(k, "d.")
			}
			var stmts []string
			var args []any
			for i, p := range parts {
				stmts = append(stmts, `SELECT * FROM (`+p.stmt+`) AS p`+strconv.Itoa(i))
				args = append(args, p.args...)
			}
			out = append(out, listQuery{strings.Join(stmts, " UNION ALL ") + ` ORDER BY ` + outer.OrderBy(desc) + ` LIMIT ?`,
				append(args, f.Limit+1)})
		}
	}
	return out, nil
}

// delivery reads one delivery with its body and attempt log.
func (q *queue) delivery(ctx context.Context, id string) (Delivery, error) {
	row := q.db.QueryRowContext(ctx, `SELECT `+deliveryCols+`, d.body FROM callback_deliveries d
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
	rows, err := q.db.QueryContext(ctx, `SELECT n, instance, started_at, duration_us, status_code, outcome, error_code, error,
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

const endpointCols = `e.id, e.kind, e.url, e.state, e.disabled_reason, e.failures, e.failing_since, e.circuit_until, e.last_success_at,
	(SELECT COUNT(*) FROM callback_deliveries d WHERE d.endpoint_id = e.id AND d.status IN ('pending', 'queued')),
	(SELECT COUNT(*) FROM callback_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'failed')`

// endpoints reads every endpoint, or the one with id.
func (q *queue) endpoints(ctx context.Context, id string, nowUS int64) ([]Endpoint, error) {
	stmt, args := `SELECT `+endpointCols+` FROM callback_endpoints e ORDER BY e.kind, e.url`, []any(nil)
	if id != "" {
		stmt, args = `SELECT `+endpointCols+` FROM callback_endpoints e WHERE e.id = ?`, []any{id}
	}
	rows, err := q.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("callback: list endpoints: %w", err)
	}
	defer rows.Close()
	var out []Endpoint
	for rows.Next() {
		var ep Endpoint
		var since, until, success int64
		if err := rows.Scan(&ep.ID, &ep.Kind, &ep.URL, &ep.State, &ep.DisabledReason, &ep.Failures, &since, &until, &success, &ep.Pending, &ep.Failed); err != nil {
			return nil, fmt.Errorf("callback: list endpoints: %w", err)
		}
		ep.FailingSince, ep.LastSuccess = optTime(since), optTime(success)
		if until > nowUS {
			ep.CircuitOpen, ep.CircuitUntil = true, optTime(until)
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}
