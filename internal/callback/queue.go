package callback

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/store"
)

// queue holds every statement of the delivery queue, for both dialects: enqueue, claim,
// release, record, promote, sweep, requeue, purge and the operators' reads. The engine keeps
// goroutines and sending; Admin serves listing and replay. Nothing else writes SQL for the
// callback tables.
//
// Lock order, the rule that keeps instances from deadlocking: a transaction that may wait
// takes delivery rows (only its own leased ones, or under their subject lock), then subject
// rows, then endpoint rows in id order; every lock it cannot take in that order it takes
// with SKIP LOCKED (never waiting) and the work moves to a transaction of its own.
type queue struct {
	db  *store.DB
	log *slog.Logger
}

func (q *queue) pg() bool { return q.db.Dialect() == store.Postgres }

// subjectKey names one ordered stream: deliveries of one subject to one endpoint.
type subjectKey struct{ endpointID, subject string }

// sortKeys sorts ks in lock order and drops repeats.
func sortKeys(ks []subjectKey) []subjectKey {
	slices.SortFunc(ks, func(a, b subjectKey) int {
		return cmp.Or(cmp.Compare(a.endpointID, b.endpointID), cmp.Compare(a.subject, b.subject))
	})
	return slices.Compact(ks)
}

func keyArrays(ks []subjectKey) (eps, subs []string) {
	for _, k := range ks {
		eps, subs = append(eps, k.endpointID), append(subs, k.subject)
	}
	return eps, subs
}

// ensureEndpoint writes (or updates the URL of) a configured endpoint.
func (q *queue) ensureEndpoint(ctx context.Context, id, kind, url string, nowUS int64) error {
	if _, err := q.db.ExecContext(ctx, `INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at`,
		id, kind, url, nowUS, nowUS); err != nil {
		return fmt.Errorf("callback: endpoint %s: %w", id, err)
	}
	return nil
}

// endpointURL reads an endpoint's kind and URL.
func (q *queue) endpointURL(ctx context.Context, id string) (kind, url string, err error) {
	err = q.db.QueryRowContext(ctx, `SELECT kind, url FROM callback_endpoints WHERE id = ?`, id).Scan(&kind, &url)
	return kind, url, err
}

// item is one delivery to write: its endpoint (ep not nil: a wallet endpoint not known to be
// in the database, inserted first), the message, and its body.
type item struct {
	endpointID string
	ep         *endpointRow
	m          Message
	pl         payload
}

// offer lets enqueue lease the heads it writes to this instance (token, until), so that the
// publisher's engine sends them as soon as the transaction commits, without a claim round:
// a delivery whose subject is idle is due at once, and this instance has a worker free for it.
// Only the first n items in lock order may be leased, one per worker slot reserved, and only
// to an endpoint a claim would hand a delivery to without a probe: enabled, circuit closed,
// fewer than threshold failures in a row (a half-open endpoint's single probe is the
// claim's to hand out). The lease is written in the insert itself, so it costs nothing.
//
// leaseDue: a delivery leased without a claim (here, or taken over by promote) is written
// due at its lease's end, not now. The claim's scan of the due index then never passes
// over deliveries in flight, only over due ones; and one whose lease lapses (its instance
// died) becomes due exactly then, as a claimed one does by its lease_until.
type offer struct {
	token     string
	until     int64 // lease end, wall clock (microseconds)
	due       int64 // the same, on the scheduling clock: next_at (leaseDue)
	n         int
	threshold int
}

// leaseGate is the endpoint condition under which enqueue leases a head (see offer): the
// claim's gate, plus no run of failures that a claim would meet with a probe. An endpoint
// written by the same statement is not visible to it, and a new endpoint passes.
const leaseGate = `NOT EXISTS (SELECT 1 FROM callback_endpoints e WHERE e.id = %s
	AND (e.state <> 'enabled' OR e.circuit_until > ? OR e.failures >= ?))`

// enqueue writes deliveries in tx. Each takes the next sequence of its subject from an
// upsert that keeps the subject row locked until tx ends (enqueuers of one subject take turns,
// sequence order is commit order) and reads the subject's head pointer under that lock:
// the delivery becomes the head ('pending') when the subject has none, else it is 'queued'
// behind it. Items are written in (endpoint, subject) order, so two business transactions
// recording for the same subjects lock them in one order, and items of one subject keep
// their order. On PostgreSQL all items are one statement (pgEnqueueMany, or for a single
// item the one-row statement of enqueueOne); SQLite, in process, runs the steps item by item.
//
// With of, the heads among the first of.n items (in lock order) whose endpoint passes
// leaseGate are leased to of.token: enqueued.leased is then set, with the delivery's body.
func (q *queue) enqueue(ctx context.Context, tx *store.Tx, items []item, nowUS int64, of *offer) ([]enqueued, error) {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	if len(items) > 1 {
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Or(cmp.Compare(items[a].endpointID, items[b].endpointID), cmp.Compare(items[a].m.Subject, items[b].m.Subject))
		})
	}
	// One delivery keeps its one-row statement (simpler to plan than the array one).
	if q.pg() && len(items) > 1 {
		if out, ok, err := q.enqueueMany(ctx, tx, items, order, nowUS, of); ok || err != nil {
			return out, err
		}
	}
	out := make([]enqueued, len(items))
	for j, i := range order {
		it := items[i]
		id := uuid.Must(uuid.NewV7()).String()
		var lease *offer
		if of != nil && j < of.n {
			lease = of
		}
		e, err := q.enqueueOne(ctx, tx, id, it, nowUS, lease)
		if err != nil {
			return nil, err
		}
		if !e.duplicate {
			out[i] = e
			continue
		}
		seq := e.seq
		// The event id was already recorded for this endpoint (a repeat): the subject's
		// sequence moved on, and if this delivery would have been the head, the subject has
		// none now (nothing after it can exist: tx holds the subject row).
		if _, err := tx.ExecContext(ctx, `UPDATE callback_subjects SET head = 0
			WHERE endpoint_id = ? AND subject = ? AND head = ?`, it.endpointID, it.m.Subject, seq); err != nil {
			return nil, fmt.Errorf("callback: record delivery: %w", err)
		}
		out[i].duplicate = true
		if err := q.readRepeat(ctx, tx, it, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readRepeat fills e with the delivery already recorded under it's event id.
func (q *queue) readRepeat(ctx context.Context, tx *store.Tx, it item, e *enqueued) error {
	if err := tx.QueryRowContext(ctx, `SELECT id, seq FROM callback_deliveries WHERE endpoint_id = ? AND event_id = ?`,
		it.endpointID, it.m.EventID).Scan(&e.id, &e.seq); err != nil {
		return fmt.Errorf("callback: read repeated delivery: %w", err)
	}
	return nil
}

// pgEnqueueMany records any number of deliveries in one statement: the new wallet
// endpoints; one upsert per subject that moves its sequence by the number of its
// deliveries (n) and sets its head pointer to the first of them when it has none, keeping
// the row locked; and the deliveries, the r-th of a subject (1-based) taking sequence
// last_seq - n + r and status 'pending' when that is the head. Arrays keep the text one
// whatever the batch, so the driver's statement cache sees one statement.
var pgEnqueueMany = `WITH ep AS (INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
	SELECT u.id, u.kind, u.url, u.at, u.at
	FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[])) AS u(id, kind, url, at)
	ON CONFLICT (id) DO NOTHING),
g AS (SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[])) WITH ORDINALITY AS g(endpoint_id, subject, n, o)),
s AS (INSERT INTO callback_subjects AS c (endpoint_id, subject, last_seq, head)
	SELECT g.endpoint_id, g.subject, g.n, 1 FROM g ORDER BY g.o
	ON CONFLICT (endpoint_id, subject) DO UPDATE SET last_seq = c.last_seq + excluded.last_seq,
	  head = CASE WHEN c.head = 0 THEN c.last_seq + 1 ELSE c.head END
	RETURNING c.endpoint_id, c.subject, c.last_seq, c.head),
y AS (SELECT d.k, d.id, d.endpoint_id, d.subject, s.last_seq - g.n + d.r AS seq, s.head, d.eid, d.et, d.oc, d.b1, d.b2, d.sp, d.lk
	FROM unnest(CAST(? AS INT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]),
	            CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS BYTEA[]), CAST(? AS BYTEA[]), CAST(? AS INT[]),
	            CAST(? AS BOOLEAN[]))
	  AS d(k, id, endpoint_id, subject, r, eid, et, oc, b1, b2, sp, lk)
	JOIN g ON g.endpoint_id = d.endpoint_id AND g.subject = d.subject
	JOIN s ON s.endpoint_id = d.endpoint_id AND s.subject = d.subject),
x AS (SELECT y.*, y.head = y.seq AND y.lk AND ` + leaseGateMany + ` AS lease FROM y),
i AS (INSERT INTO callback_deliveries
	(id, endpoint_id, subject, seq, event_id, event_type, occurred_at, created_at, updated_at, body, status, next_at, lease_token, lease_until)
	SELECT x.id, x.endpoint_id, x.subject, x.seq, x.eid, x.et, x.oc, ?, ?,
	  CASE WHEN x.sp = 1 THEN x.b1 || convert_to(CAST(x.seq AS TEXT), 'UTF8') || x.b2 ELSE x.b1 END,
	  CASE WHEN x.head = x.seq THEN 'pending' ELSE 'queued' END, CASE WHEN x.lease THEN CAST(? AS BIGINT) ELSE ? END,
	  CASE WHEN x.lease THEN ? ELSE '' END, CASE WHEN x.lease THEN CAST(? AS BIGINT) ELSE 0 END
	FROM x ON CONFLICT DO NOTHING RETURNING id, lease_token <> '' AS leased, CASE WHEN lease_token <> '' THEN body END AS body)
SELECT x.k, x.seq, i.id IS NOT NULL, x.head = x.seq, COALESCE(i.leased, false), i.body FROM x LEFT JOIN i ON i.id = x.id`

// leaseGateMany is leaseGate for pgEnqueueMany's rows.
var leaseGateMany = fmt.Sprintf(leaseGate, "y.endpoint_id")

// enqueueMany is enqueue on PostgreSQL in one statement (pgEnqueueMany); ok is false when
// some body cannot have its sequence spliced in by the database (then the caller goes item by
// item). Repeated event ids are not inserted; the subjects they would have headed get
// their next delivery as head (promote), as item by item.
func (q *queue) enqueueMany(ctx context.Context, tx *store.Tx, items []item, order []int, nowUS int64, of *offer) ([]enqueued, bool, error) {
	n := len(items)
	var epIDs, epKinds, epURLs []string
	var epAts []int64
	var gEPs, gSubs []string
	var gNs []int64
	ks, ids, dEPs, dSubs := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	rs, eids, ets, ocs := make([]int64, n), make([]string, n), make([]string, n), make([]int64, n)
	b1s, b2s, sps := make([][]byte, n), make([][]byte, n), make([]int64, n)
	lks := make([]bool, n)
	token, until, due, threshold := "", int64(0), int64(0), 0
	if of != nil {
		token, until, due, threshold = of.token, of.until, of.due, of.threshold
	}
	for j, i := range order {
		lks[j] = of != nil && j < of.n
		it := items[i]
		if it.ep != nil && !slices.Contains(epIDs, it.ep.id) {
			epIDs, epKinds, epURLs, epAts = append(epIDs, it.ep.id), append(epKinds, it.ep.kind), append(epURLs, it.ep.url), append(epAts, it.ep.at)
		}
		if g := len(gEPs) - 1; g >= 0 && gEPs[g] == it.endpointID && gSubs[g] == it.m.Subject {
			gNs[g]++
		} else {
			gEPs, gSubs, gNs = append(gEPs, it.endpointID), append(gSubs, it.m.Subject), append(gNs, 1)
		}
		ks[j], ids[j], dEPs[j], dSubs[j] = int64(i), uuid.Must(uuid.NewV7()).String(), it.endpointID, it.m.Subject
		rs[j], eids[j], ets[j], ocs[j] = gNs[len(gNs)-1], it.m.EventID, it.m.Type, store.Micros(it.m.OccurredAt)
		if it.pl.fixed != nil {
			b1s[j], b2s[j] = it.pl.fixed, []byte{}
			continue
		}
		before, after, split, err := it.pl.split()
		if err != nil {
			return nil, true, fmt.Errorf("callback: envelope: %w", err)
		}
		if !split {
			return nil, false, nil
		}
		b1s[j], b2s[j], sps[j] = before, after, 1
	}
	rows, err := tx.QueryContext(ctx, pgEnqueueMany, epIDs, epKinds, epURLs, epAts, gEPs, gSubs, gNs,
		ks, ids, dEPs, dSubs, rs, eids, ets, ocs, b1s, b2s, sps, lks, nowUS, threshold, nowUS, nowUS, due, nowUS, token, until)
	if err != nil {
		return nil, true, fmt.Errorf("callback: record deliveries: %w", err)
	}
	out := make([]enqueued, n)
	var repeats []int
	func() {
		defer rows.Close()
		for rows.Next() {
			var k, seq int64
			var inserted, head, leased bool
			var body []byte
			if err = rows.Scan(&k, &seq, &inserted, &head, &leased, &body); err != nil {
				return
			}
			out[k] = enqueued{seq: seq, duplicate: !inserted, head: head}
			if leased {
				out[k].leased, out[k].body = true, body
			}
			if !inserted {
				repeats = append(repeats, int(k))
			}
		}
		err = rows.Err()
	}()
	if err != nil {
		return nil, true, fmt.Errorf("callback: record deliveries: %w", err)
	}
	for j, i := range order {
		if !out[i].duplicate {
			out[i].id = ids[j]
		}
	}
	if len(repeats) == 0 {
		return out, true, nil
	}
	var keys []subjectKey
	for _, i := range repeats {
		keys = append(keys, subjectKey{items[i].endpointID, items[i].m.Subject})
		if err := q.readRepeat(ctx, tx, items[i], &out[i]); err != nil {
			return nil, true, err
		}
	}
	// tx holds these subject rows since the statement above, whose deliveries the promotion
	// sees: a repeat that took the head's sequence leaves the head to the next one.
	if _, _, err := q.promote(ctx, tx, sortKeys(keys), nowUS, nil); err != nil {
		return nil, true, err
	}
	return out, true, nil
}

// enqueued is what enqueue did with one item: the delivery's id and sequence, or those of
// the delivery already recorded with the same event id (duplicate). head says the delivery
// was written as its subject's head; leased that it was also leased to the offer's token,
// and body is then its body as stored.
type enqueued struct {
	id        string
	seq       int64
	duplicate bool
	head      bool
	leased    bool
	body      []byte
}

// The PostgreSQL statements of enqueueOne: data-modifying WITH parts run exactly once; the
// subject upsert reads the latest subject row (head and last_seq) under its lock, whatever
// the statement's snapshot, and keeps the lock until the transaction ends. The delivery's
// foreign key is checked at the end of the statement, after the endpoint part has run.
var (
	pgEndpointPart = `ep AS (INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING), `
	subjectUpsert = `INSERT INTO callback_subjects (endpoint_id, subject, last_seq, head) VALUES (?, ?, 1, 1)
		ON CONFLICT (endpoint_id, subject) DO UPDATE SET last_seq = callback_subjects.last_seq + 1,
		  head = CASE WHEN callback_subjects.head = 0 THEN callback_subjects.last_seq + 1 ELSE callback_subjects.head END
		RETURNING last_seq, head`
	pgSubjectPart = `s AS (` + subjectUpsert + `),
		i AS (INSERT INTO callback_deliveries
		(id, endpoint_id, subject, seq, event_id, event_type, occurred_at, created_at, updated_at, body, status, next_at, lease_token, lease_until)
		SELECT ?, ?, ?, s.last_seq, ?, ?, ?, ?, ?, `
	pgDeliveryTail = `, CASE WHEN s.head = s.last_seq THEN 'pending' ELSE 'queued' END, CASE WHEN l.lease THEN CAST(? AS BIGINT) ELSE ? END,
		  CASE WHEN l.lease THEN ? ELSE '' END, CASE WHEN l.lease THEN CAST(? AS BIGINT) ELSE 0 END
		FROM s CROSS JOIN LATERAL (SELECT s.head = s.last_seq AND CAST(? AS BOOLEAN) AND ` + leaseGateOne + ` AS lease) l
		ON CONFLICT DO NOTHING RETURNING lease_token <> '' AS leased, CASE WHEN lease_token <> '' THEN body END AS body)
		SELECT s.last_seq, (SELECT COUNT(*) FROM i), s.head = s.last_seq, COALESCE((SELECT leased FROM i), false), (SELECT body FROM i) FROM s`
	pgFixedBody = `CAST(? AS BYTEA)`
	pgSplitBody = `CAST(? AS BYTEA) || convert_to(CAST(s.last_seq AS TEXT), 'UTF8') || CAST(? AS BYTEA)`
)

// leaseGateOne is leaseGate for one delivery, its endpoint id a parameter.
var leaseGateOne = fmt.Sprintf(leaseGate, "?")

// pgEnqueue holds the four statement texts (with or without the endpoint, fixed or spliced
// body), built once so that the driver's statement cache sees the same text every time.
var pgEnqueue = func() (q [2][2]string) {
	for withEP := 0; withEP < 2; withEP++ {
		for spliced := 0; spliced < 2; spliced++ {
			s := "WITH "
			if withEP == 1 {
				s += pgEndpointPart
			}
			s += pgSubjectPart
			if spliced == 1 {
				s += pgSplitBody
			} else {
				s += pgFixedBody
			}
			q[withEP][spliced] = s + pgDeliveryTail
		}
	}
	return q
}()

// insertDelivery is the one-row insert of the item-by-item path (SQLite, or a body
// PostgreSQL cannot splice), leasing the delivery when it is told to and its endpoint
// passes leaseGate. It returns a row only when the delivery was inserted.
var insertDelivery = `INSERT INTO callback_deliveries
	(id, endpoint_id, subject, seq, event_id, event_type, occurred_at, created_at, updated_at, body, status, next_at, lease_token, lease_until)
	SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN l.lease THEN CAST(? AS BIGINT) ELSE ? END,
	  CASE WHEN l.lease THEN ? ELSE '' END, CASE WHEN l.lease THEN CAST(? AS BIGINT) ELSE 0 END
	FROM (SELECT CAST(? AS BOOLEAN) AND ` + leaseGateOne + ` AS lease) l
	WHERE true ON CONFLICT DO NOTHING RETURNING lease_token <> ''`

// enqueueOne writes one delivery, leasing it per lease (nil: not) when it is its subject's
// head; duplicate reports that its event id was recorded before (nothing was inserted, and
// seq is the sequence it took).
func (q *queue) enqueueOne(ctx context.Context, tx *store.Tx, id string, it item, nowUS int64, lease *offer) (enqueued, error) {
	m := it.m
	token, until, due, threshold := "", int64(0), int64(0), 0
	if lease != nil {
		token, until, due, threshold = lease.token, lease.until, lease.due, lease.threshold
	}
	if q.pg() {
		var args []any
		withEP, spliced := 0, 0
		if it.ep != nil {
			withEP = 1
			args = append(args, it.ep.id, it.ep.kind, it.ep.url, it.ep.at, it.ep.at)
		}
		args = append(args, it.endpointID, m.Subject,
			id, it.endpointID, m.Subject, m.EventID, m.Type, store.Micros(m.OccurredAt), nowUS, nowUS)
		ok := true
		if it.pl.fixed != nil {
			args = append(args, it.pl.fixed)
		} else {
			before, after, split, err := it.pl.split()
			if err != nil {
				return enqueued{}, fmt.Errorf("callback: envelope: %w", err)
			}
			ok = split
			spliced = 1
			args = append(args, before, after)
		}
		if ok {
			args = append(args, due, nowUS, token, until, lease != nil, it.endpointID, nowUS, threshold)
			e := enqueued{id: id}
			var n int
			if err := tx.QueryRowContext(ctx, pgEnqueue[withEP][spliced], args...).Scan(&e.seq, &n, &e.head, &e.leased, &e.body); err != nil {
				return enqueued{}, fmt.Errorf("callback: record delivery: %w", err)
			}
			e.duplicate = n == 0
			return e, nil
		}
	}
	if it.ep != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO callback_endpoints (id, kind, url, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, it.ep.id, it.ep.kind, it.ep.url, it.ep.at, it.ep.at); err != nil {
			return enqueued{}, fmt.Errorf("callback: record wallet endpoint: %w", err)
		}
	}
	e := enqueued{id: id}
	var head int64
	if err := tx.QueryRowContext(ctx, subjectUpsert, it.endpointID, m.Subject).Scan(&e.seq, &head); err != nil {
		return enqueued{}, fmt.Errorf("callback: subject sequence: %w", err)
	}
	b := it.pl.fixed
	if b == nil {
		var err error
		if b, err = it.pl.build(e.seq); err != nil {
			return enqueued{}, fmt.Errorf("callback: envelope: %w", err)
		}
	}
	status := StatusQueued
	if e.head = head == e.seq; e.head {
		status = StatusPending
	}
	err := tx.QueryRowContext(ctx, insertDelivery,
		id, it.endpointID, m.Subject, e.seq, m.EventID, m.Type, store.Micros(m.OccurredAt), nowUS, nowUS, b, status, due, nowUS,
		token, until, lease != nil && status == StatusPending, it.endpointID, nowUS, threshold).Scan(&e.leased)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		e.duplicate = true
	case err != nil:
		return enqueued{}, fmt.Errorf("callback: record delivery: %w", err)
	case e.leased:
		e.body = b
	}
	return e, nil
}

// claimDue selects due heads. Only a subject's head is 'pending', so this is a short index
// range scan with no per-row ordering check. The endpoint's gate (enabled, circuit closed)
// is an anti-join, not a join: joined, the endpoint's id became a lookup key into the
// deliveries, and a planner without statistics walked each endpoint's open deliveries
// through the unfinished index instead of reading the due heads (issue 16).
const claimDue = `SELECT d.id FROM callback_deliveries d
	WHERE d.status = 'pending' AND d.next_at <= ? AND d.lease_until <= ?
	  AND NOT EXISTS (SELECT 1 FROM callback_endpoints e WHERE e.id = d.endpoint_id
	                  AND (e.state <> 'enabled' OR e.circuit_until > ?))%s
	ORDER BY d.next_at LIMIT ?`

// claimStmt is the claim statement for a given number of excluded endpoints.
func (q *queue) claimStmt(excluded int) string {
	excl := ""
	if excluded > 0 {
		excl = " AND d.endpoint_id NOT IN (?" + strings.Repeat(", ?", excluded-1) + ")"
	}
	inner := fmt.Sprintf(claimDue, excl)
	if q.pg() {
		inner += " FOR UPDATE OF d SKIP LOCKED"
	}
	return `UPDATE callback_deliveries SET lease_token = ?, lease_until = ? WHERE id IN (` + inner + `)
		RETURNING id, endpoint_id, subject, seq, event_id, event_type, occurred_at, body, tries, attempts`
}

// pgClaimSettings is what the claim's transaction sets on PostgreSQL, in one round trip.
//
// synchronous_commit off: a lease is bookkeeping, not a fact to keep; if PostgreSQL loses
// it in a crash the rows are simply claimable again, so the claim does not wait for its WAL
// flush.
//
// enable_bitmapscan off: the due index keeps an entry for every version of a delivery that
// was ever pending, and nothing removes the entries of the finished ones until a vacuum
// (none runs where autovacuum is off, and between its passes elsewhere). A plain index scan
// marks each such entry dead the first time it finds its row version gone, and later claims
// step over it without reading the table; a bitmap scan never marks any. Without
// statistics the planner took the bitmap scan and a sort, and every claim read the table
// page of every entry due so far, finished or not: 56,305 entries and 3,872 pages to find
// 82 due deliveries after 200,000 were drained, 31 ms per claim and half of the engine's
// PostgreSQL time per event after 500,000 (issue 16, eighth pass). Claiming is ordered by
// due time with a limit, which the index walk yields as it goes.
const pgClaimSettings = `SELECT set_config('synchronous_commit', 'off', true), set_config('enable_bitmapscan', 'off', true)`

// claim leases up to n due deliveries with token until leaseUntil, skipping the endpoints
// in exclude. On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so
// instances never claim the same row and a claim never waits; on SQLite the single writer
// makes the UPDATE atomic.
func (q *queue) claim(ctx context.Context, n int, token string, leaseUntil, wallUS, nowUS int64, exclude []any) ([]claimed, error) {
	stmt := q.claimStmt(len(exclude))
	args := []any{token, leaseUntil, nowUS, wallUS, nowUS}
	args = append(args, exclude...)
	args = append(args, n)
	var out []claimed
	scan := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			c := claimed{token: token}
			if err := rows.Scan(&c.id, &c.endpointID, &c.subject, &c.seq, &c.eventID, &c.eventType, &c.occurredAt, &c.body, &c.tries, &c.attempts); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	}
	var err error
	if q.pg() {
		err = q.db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, pgClaimSettings); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, stmt, args...)
			if err != nil {
				return err
			}
			return scan(rows)
		})
	} else {
		var rows *sql.Rows
		if rows, err = q.db.QueryContext(ctx, stmt, args...); err == nil {
			err = scan(rows)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("callback: claim: %w", err)
	}
	return out, nil
}

// release gives a claimed delivery back without an attempt.
// A delivery leased at enqueue or taken over is due at its lease's end (leaseDue): it is due
// again at once.
func (q *queue) release(ctx context.Context, c claimed, nowUS int64) error {
	if _, err := q.db.ExecContext(ctx, `UPDATE callback_deliveries SET lease_token = '', lease_until = 0,
		next_at = CASE WHEN next_at > ? THEN ? ELSE next_at END WHERE id = ? AND lease_token = ?`, nowUS, nowUS, c.id, c.token); err != nil {
		return fmt.Errorf("callback: release: %w", err)
	}
	return nil
}

// halfOpen returns which of ids have reached the failure threshold (their circuit opened
// and, since they were claimable, has cooled down).
func (q *queue) halfOpen(ctx context.Context, ids []string, threshold int) (map[string]bool, error) {
	args := make([]any, 0, len(ids)+1)
	args = append(args, threshold)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT id FROM callback_endpoints WHERE failures >= ? AND id IN (?`+
		strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("callback: claim: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("callback: claim: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// takeProbe moves a half-open endpoint's circuit forward; the one caller that does wins the
// single probe.
func (q *queue) takeProbe(ctx context.Context, id string, until, nowUS int64) (bool, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE callback_endpoints SET circuit_until = ? WHERE id = ? AND circuit_until <= ?`, until, id, nowUS)
	if err != nil {
		return false, fmt.Errorf("callback: claim probe: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// outcome is one finished attempt and the delivery state it leads to (computed by the
// engine's policy).
type outcome struct {
	c        claimed
	a        attemptLog
	status   string // pending (retry), delivered, failed
	tries    int
	nextAt   int64
	finished int64
}

// healthPolicy is what record needs to apply endpoint health.
type healthPolicy struct {
	threshold             int
	cooldown, maxCooldown time.Duration
	disableAfter          time.Duration
}

// recorded is what a recording transaction did.
type recorded struct {
	applied  []bool       // per outcome: false when the lease was lost (another instance owns it)
	deferred []subjectKey // subjects whose head finished while a business transaction held them
	next     []claimed    // new heads leased to this instance, as tk asked (successor takeover)
	left     int          // new heads not leased: due for a claim round
}

// record writes a batch of attempts and their consequences in one transaction: the attempt
// log, each delivery's new state (only while this instance still holds its lease), the head
// pointer of every subject whose head finished (with the next head promoted), and endpoint
// health. It never waits for a business transaction: a subject row some transaction holds
// is skipped (SKIP LOCKED) and returned as deferred, noted durably in callback_recheck.
// On PostgreSQL this is at most four statements whatever the batch size (three when no
// finished subject has anything queued behind its head): the attempt log and the new
// states in one (pgApplyOutcomes). The new heads of the subjects tk names (whose heads this batch delivered) are leased in the same promotion and
// returned, for the workers that finished their predecessors to send at once.
func (q *queue) record(ctx context.Context, instance string, batch []outcome, hp healthPolicy, now time.Time, tk *takeover) (recorded, error) {
	nowUS := store.Micros(now)
	// One lock order for every recorder: deliveries by id.
	slices.SortFunc(batch, func(a, b outcome) int { return cmp.Compare(a.c.id, b.c.id) })
	var out recorded
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		out = recorded{applied: make([]bool, len(batch))}
		if err := q.applyOutcomes(ctx, tx, instance, batch, out.applied, nowUS); err != nil {
			return err
		}
		var finished []subjectKey
		heads := map[subjectKey]int64{}
		for i, o := range batch {
			if out.applied[i] && o.status != StatusPending {
				k := subjectKey{o.c.endpointID, o.c.subject}
				finished = append(finished, k)
				heads[k] = o.c.seq
			}
		}
		if len(finished) > 0 {
			finished = sortKeys(finished)
			locked, open, err := q.lockSubjects(ctx, tx, finished, heads)
			if err != nil {
				return err
			}
			next, left, err := q.promote(ctx, tx, open, nowUS, tk)
			if err != nil {
				return err
			}
			out.next, out.left = next, left
			for _, k := range finished {
				if !slices.Contains(locked, k) {
					out.deferred = append(out.deferred, k)
				}
			}
			if err := q.noteRecheck(ctx, tx, out.deferred); err != nil {
				return err
			}
		}
		return q.applyHealth(ctx, tx, batch, out.applied, hp, now)
	})
	return out, err
}

// insertAttempts writes the batch's attempt log on SQLite (on PostgreSQL pgApplyOutcomes
// does, in the statement that applies the outcomes).
func (q *queue) insertAttempts(ctx context.Context, tx *store.Tx, instance string, batch []outcome) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO callback_attempts
		(delivery_id, n, instance, started_at, duration_us, status_code, outcome, error_code, error, response_body, response_truncated) VALUES `)
	args := make([]any, 0, 11*len(batch))
	for i, o := range batch {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		a := o.a
		args = append(args, o.c.id, o.c.attempts+1, instance, store.Micros(a.started), a.duration.Microseconds(), a.status,
			a.result.Outcome.String(), a.result.Code, clip(a.errText), a.body, boolInt(a.truncated))
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("callback: attempt log: %w", err)
	}
	return nil
}

// pgApplyOutcomes is applyOutcomes' statement on PostgreSQL. The outcomes are first matched
// to their deliveries by a probe of the primary key each (a LATERAL subquery, kept apart by
// OFFSET 0), so that the planner rates the matched rows at one whatever it believes of
// the table, and the update then finds each delivery by its key too: as a join of the
// outcomes with callback_deliveries, a plan made while the table was small (a fresh
// database, the bench's scratch schema, no statistics) hashed the outcomes and read the
// whole table, and a prepared statement that settled on that plan kept it as the table
// grew (issue 16, sixth pass: three times the update's usual time in one bench run of
// three). The update checks the lease again: the probe reads the statement's snapshot, the
// update the row's latest version.
//
// The first array is read through a sub-SELECT, as in pgLockSubjects, so that every plan
// rates the outcomes alike and PostgreSQL keeps the generic plan instead of planning every
// batch anew (37 µs of PostgreSQL CPU per event before).
//
// The same statement writes the attempt log (every attempt, whether or not its lease still
// held): one round trip fewer in each recording transaction.
const pgApplyOutcomes = `WITH m AS MATERIALIZED (SELECT u.* FROM unnest((SELECT CAST(? AS TEXT[])), CAST(? AS TEXT[]), CAST(? AS TEXT[]),
	  CAST(? AS INT[]), CAST(? AS BIGINT[]), CAST(? AS INT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[])) AS u(id, tok, st, tr, nx, ls, le, fi)
	CROSS JOIN LATERAL (SELECT h.id FROM callback_deliveries h WHERE h.id = u.id AND h.lease_token = u.tok OFFSET 0) h
	WHERE h.id = u.id),
a AS (INSERT INTO callback_attempts
	(delivery_id, n, instance, started_at, duration_us, status_code, outcome, error_code, error, response_body, response_truncated)
	SELECT u.id, u.n, ?, u.st, u.du, u.sc, u.oc, u.ec, u.er, u.rb, u.rt
	FROM unnest(CAST(? AS TEXT[]), CAST(? AS INT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS INT[]),
	            CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BYTEA[]), CAST(? AS INT[]))
	  AS u(id, n, st, du, sc, oc, ec, er, rb, rt))
UPDATE callback_deliveries d SET status = m.st, tries = m.tr, attempts = d.attempts + 1,
	next_at = m.nx, lease_token = '', lease_until = 0, last_status = m.ls, last_error = m.le, finished_at = m.fi, updated_at = ?
FROM m WHERE d.id = m.id AND d.lease_token = m.tok
RETURNING d.id`

// applyOutcomes writes the batch's attempt log and moves each delivery to its new state,
// only where the lease token still matches, and marks which were applied. nowUS is the
// change's time (updated_at).
func (q *queue) applyOutcomes(ctx context.Context, tx *store.Tx, instance string, batch []outcome, applied []bool, nowUS int64) error {
	if q.pg() {
		n := len(batch)
		ids, toks, sts, errs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		tries, next, last, fin := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		ns, starts, durs, outs, ecodes := make([]int64, n), make([]int64, n), make([]int64, n), make([]string, n), make([]string, n)
		bodies, truncs := make([][]byte, n), make([]int64, n)
		for i, o := range batch {
			a := o.a
			ids[i], toks[i], sts[i], errs[i] = o.c.id, o.c.token, o.status, clip(a.errText)
			tries[i], next[i], last[i], fin[i] = int64(o.tries), o.nextAt, int64(a.status), o.finished
			ns[i], starts[i], durs[i], outs[i], ecodes[i] = int64(o.c.attempts+1), store.Micros(a.started), a.duration.Microseconds(), a.result.Outcome.String(), a.result.Code
			bodies[i], truncs[i] = a.body, int64(boolInt(a.truncated))
		}
		rows, err := tx.QueryContext(ctx, pgApplyOutcomes, ids, toks, sts, tries, next, last, errs, fin,
			instance, ids, ns, starts, durs, last, outs, ecodes, errs, bodies, truncs, nowUS)
		if err != nil {
			return fmt.Errorf("callback: update deliveries: %w", err)
		}
		defer rows.Close()
		done := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("callback: update deliveries: %w", err)
			}
			done[id] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("callback: update deliveries: %w", err)
		}
		for i, o := range batch {
			applied[i] = done[o.c.id]
		}
		return nil
	}
	if err := q.insertAttempts(ctx, tx, instance, batch); err != nil {
		return err
	}
	for i, o := range batch {
		res, err := tx.ExecContext(ctx, `UPDATE callback_deliveries SET status = ?, tries = ?, attempts = attempts + 1,
			next_at = ?, lease_token = '', lease_until = 0, last_status = ?, last_error = ?, finished_at = ?, updated_at = ?
			WHERE id = ? AND lease_token = ?`,
			o.status, o.tries, o.nextAt, o.a.status, clip(o.a.errText), o.finished, nowUS, o.c.id, o.c.token)
		if err != nil {
			return fmt.Errorf("callback: update delivery: %w", err)
		}
		n, _ := res.RowsAffected()
		applied[i] = n == 1
	}
	return nil
}

// lockSubjects locks the subject rows of ks that no other transaction holds (in key order,
// SKIP LOCKED: never waiting) and returns them, and of those the ones promote must see to
// (open). heads names the head each subject's recording finished.
//
// On PostgreSQL the lock also ends the head of each subject with nothing queued behind it:
// the locked row is the latest version (whatever the statement's snapshot), and every
// enqueue moves last_seq under that same lock, so a head whose sequence is still last_seq
// has nothing after it, and its pointer is cleared here without reading any delivery.
// Those subjects, the usual case of a subject whose events are far apart, need no
// promotion statement. On SQLite, the single writer, all are locked and open.
func (q *queue) lockSubjects(ctx context.Context, tx *store.Tx, ks []subjectKey, heads map[subjectKey]int64) (locked, open []subjectKey, _ error) {
	if !q.pg() {
		return ks, ks, nil
	}
	eps, subs := keyArrays(ks)
	seqs := make([]int64, len(ks))
	for i, k := range ks {
		seqs[i] = heads[k]
	}
	rows, err := tx.QueryContext(ctx, pgLockSubjects, eps, subs, seqs)
	if err != nil {
		return nil, nil, fmt.Errorf("callback: subject lock: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k subjectKey
		var ends bool
		if err := rows.Scan(&k.endpointID, &k.subject, &ends); err != nil {
			return nil, nil, fmt.Errorf("callback: subject lock: %w", err)
		}
		locked = append(locked, k)
		if !ends {
			open = append(open, k)
		}
	}
	return locked, open, rows.Err()
}

// pgLockSubjects is lockSubjects' statement on PostgreSQL: each key's subject row is
// locked (SKIP LOCKED) by a probe of its primary key, in the keys' order, and the heads that
// end are cleared in the same statement.
//
// The probe is a LATERAL subquery so that the plan is a nested loop of primary key probes
// whatever the planner believes of the table's size: as a join of the keys with
// callback_subjects, the generic plan of a table without statistics (the bench's, where
// autovacuum is off) hashed the keys and read the whole table, every version of every
// subject row, once per recording batch: 14.8 % of PostgreSQL's CPU in the bench's profile
// (issue 16, sixth pass). The outer WHERE repeats the probe's condition, which the probe has
// already met, so that the planner rates the locked rows at one and clears the ended heads
// by key too rather than by a hash of the whole table.
//
// The first array is read through a sub-SELECT so that no plan knows the batch's length: a
// custom plan (the parameters' values in hand) knew it and so rated itself cheaper than
// the generic plan's ten keys whenever a batch held fewer, and PostgreSQL kept planning
// the statement anew for every batch (3,190 plans in 4,177 executions, 31 µs of PostgreSQL
// CPU per event). Every plan now rates the keys alike and the generic plan, the same
// nested loop of probes, is kept after the first five.
const pgLockSubjects = `WITH l AS (SELECT s.endpoint_id, s.subject, s.head = u.seq AND s.last_seq = u.seq AS ends
	FROM unnest((SELECT CAST(? AS TEXT[])), CAST(? AS TEXT[]), CAST(? AS BIGINT[])) AS u(endpoint_id, subject, seq)
	CROSS JOIN LATERAL (SELECT s.endpoint_id, s.subject, s.head, s.last_seq FROM callback_subjects s
	  WHERE s.endpoint_id = u.endpoint_id AND s.subject = u.subject FOR UPDATE SKIP LOCKED) s
	WHERE s.endpoint_id = u.endpoint_id AND s.subject = u.subject),
c AS (UPDATE callback_subjects s SET head = 0 FROM l
	WHERE l.ends AND s.endpoint_id = l.endpoint_id AND s.subject = l.subject)
SELECT endpoint_id, subject, ends FROM l`

// pgPromote gives every listed subject (locked by the caller, in an earlier statement so
// that this one's snapshot sees every delivery recorded before the lock was taken) whose
// head pointer does not name a pending delivery its next head: the queued delivery with the
// lowest sequence, or none (head 0). A subject flagged take whose endpoint is enabled has
// its new head leased at once (token, until) and returned whole (successor takeover).
//
// The head is read by its key and its status compared after: with status = 'pending' in
// the lookup, the planner took the unfinished (endpoint_id, status) index and walked every
// pending row of the endpoint (and each dead one a finished head leaves until vacuum) for
// every subject, so promotion cost grew with the backlog (issue 16). The key alone fits
// only the unique (endpoint_id, subject, seq) index: one probe.
const pgPromote = `WITH l AS (
	SELECT s.endpoint_id, s.subject, u.take FROM callback_subjects s
	JOIN unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BOOLEAN[])) AS u(endpoint_id, subject, take)
	  ON s.endpoint_id = u.endpoint_id AND s.subject = u.subject
	WHERE (SELECT h.status FROM callback_deliveries h WHERE h.endpoint_id = s.endpoint_id
	       AND h.subject = s.subject AND h.seq = s.head) IS DISTINCT FROM 'pending'),
nx AS MATERIALIZED (SELECT (SELECT q.id FROM callback_deliveries q WHERE q.endpoint_id = l.endpoint_id AND q.subject = l.subject
               AND q.status = 'queued' ORDER BY q.seq LIMIT 1) AS id,
              l.take AND EXISTS (SELECT 1 FROM callback_endpoints e WHERE e.id = l.endpoint_id AND e.state = 'enabled') AS take
       FROM l),
p AS (UPDATE callback_deliveries d SET status = 'pending', next_at = CASE WHEN nx.take THEN CAST(? AS BIGINT) ELSE ? END, tries = 0, updated_at = ?,
        lease_token = CASE WHEN nx.take THEN CAST(? AS TEXT) ELSE '' END, lease_until = CASE WHEN nx.take THEN CAST(? AS BIGINT) ELSE 0 END
      FROM nx WHERE d.id = nx.id AND d.status = 'queued'
      RETURNING d.id, d.endpoint_id, d.subject, d.seq, nx.take, d.event_id, d.event_type, d.occurred_at,
        CASE WHEN nx.take THEN d.body END AS body, d.attempts)
UPDATE callback_subjects s SET head = COALESCE(p.seq, 0)
FROM l LEFT JOIN p ON p.endpoint_id = l.endpoint_id AND p.subject = l.subject
WHERE s.endpoint_id = l.endpoint_id AND s.subject = l.subject
RETURNING p.id, p.endpoint_id, p.subject, p.seq, p.event_id, p.event_type, p.occurred_at, p.body, p.attempts, COALESCE(p.take, false)`

// takeover asks promote to lease the new heads of some subjects to this instance, so that
// the workers that finished their predecessors send them at once instead of waiting for a
// claim round.
type takeover struct {
	token string
	until int64 // lease end, wall clock
	due   int64 // the same, on the scheduling clock: next_at (leaseDue)
	keys  map[subjectKey]bool
}

func (tk *takeover) wants(k subjectKey) bool { return tk != nil && tk.keys[k] }

// promote makes sure every subject of ks (locked by the caller) has a head if it has
// anything open, and returns the new heads tk asked for, leased to tk.token (only those of
// enabled endpoints: a disabled endpoint gets nothing sent until it is enabled again), and
// how many new heads it left for a claim round (due, not leased).
func (q *queue) promote(ctx context.Context, tx *store.Tx, ks []subjectKey, nowUS int64, tk *takeover) (taken []claimed, left int, err error) {
	if len(ks) == 0 {
		return nil, 0, nil
	}
	var token string
	var until, due int64
	if tk != nil {
		token, until, due = tk.token, tk.until, tk.due
	}
	var out []claimed
	if q.pg() {
		eps, subs := keyArrays(ks)
		take := make([]bool, len(ks))
		for i, k := range ks {
			take[i] = tk.wants(k)
		}
		rows, err := tx.QueryContext(ctx, pgPromote, eps, subs, take, due, nowUS, nowUS, token, until)
		if err != nil {
			return nil, 0, fmt.Errorf("callback: promote next: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, ep, sub, eid, et sql.NullString
			var seq, oc, attempts sql.NullInt64
			var body []byte
			var taken bool
			if err := rows.Scan(&id, &ep, &sub, &seq, &eid, &et, &oc, &body, &attempts, &taken); err != nil {
				return nil, 0, fmt.Errorf("callback: promote next: %w", err)
			}
			if id.Valid && !taken {
				left++
			}
			if taken {
				out = append(out, claimed{id: id.String, endpointID: ep.String, subject: sub.String, seq: seq.Int64,
					eventID: eid.String, eventType: et.String, occurredAt: oc.Int64, body: body, attempts: int(attempts.Int64), token: token})
			}
		}
		if err := rows.Err(); err != nil {
			return nil, 0, fmt.Errorf("callback: promote next: %w", err)
		}
		return out, left, nil
	}
	for _, k := range ks {
		// The subject's first queued delivery becomes the head unless its head pointer names
		// a pending delivery; with nothing queued the pointer is cleared under that same rule.
		// SQLite's planner takes the unique (endpoint_id, subject, seq) index for the head
		// lookup here already (EXPLAIN QUERY PLAN), so this keeps the plain form.
		take := tk.wants(k)
		c := claimed{endpointID: k.endpointID, subject: k.subject, token: token}
		var leased string
		err := tx.QueryRowContext(ctx, `UPDATE callback_deliveries SET status = 'pending',
			  next_at = CASE WHEN `+sqliteTake+` THEN CAST(? AS BIGINT) ELSE ? END, tries = 0, updated_at = ?,
			  lease_token = CASE WHEN `+sqliteTake+` THEN ? ELSE '' END, lease_until = CASE WHEN `+sqliteTake+` THEN CAST(? AS BIGINT) ELSE 0 END
			WHERE id = (SELECT q.id FROM callback_deliveries q WHERE q.endpoint_id = ? AND q.subject = ? AND q.status = 'queued'
			            ORDER BY q.seq LIMIT 1)
			  AND NOT EXISTS (SELECT 1 FROM callback_subjects s JOIN callback_deliveries h
			                  ON h.endpoint_id = s.endpoint_id AND h.subject = s.subject AND h.seq = s.head AND h.status = 'pending'
			                  WHERE s.endpoint_id = ? AND s.subject = ?)
			RETURNING seq, id, event_id, event_type, occurred_at, body, attempts, lease_token`,
			take, due, nowUS, nowUS, take, token, take, until, k.endpointID, k.subject, k.endpointID, k.subject).
			Scan(&c.seq, &c.id, &c.eventID, &c.eventType, &c.occurredAt, &c.body, &c.attempts, &leased)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `UPDATE callback_subjects SET head = 0 WHERE endpoint_id = ? AND subject = ? AND head <> 0
				AND NOT EXISTS (SELECT 1 FROM callback_deliveries h WHERE h.endpoint_id = callback_subjects.endpoint_id
				                AND h.subject = callback_subjects.subject AND h.seq = callback_subjects.head AND h.status = 'pending')`,
				k.endpointID, k.subject)
		case err == nil:
			if leased != "" {
				out = append(out, c)
			} else {
				left++
			}
			_, err = tx.ExecContext(ctx, `UPDATE callback_subjects SET head = ? WHERE endpoint_id = ? AND subject = ?`, c.seq, k.endpointID, k.subject)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("callback: promote next: %w", err)
		}
	}
	return out, left, nil
}

// sqliteTake is SQLite's promotion's takeover condition: asked for (the argument), and the
// endpoint enabled.
const sqliteTake = `(? AND (SELECT e.state FROM callback_endpoints e WHERE e.id = callback_deliveries.endpoint_id) = 'enabled')`

func (q *queue) noteRecheck(ctx context.Context, tx *store.Tx, ks []subjectKey) error {
	if len(ks) == 0 {
		return nil
	}
	for _, k := range ks {
		if _, err := tx.ExecContext(ctx, `INSERT INTO callback_recheck (endpoint_id, subject) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			k.endpointID, k.subject); err != nil {
			return fmt.Errorf("callback: note recheck: %w", err)
		}
	}
	return nil
}

// promoteAfter waits for the transactions holding these subjects (taking one subject row at
// a time, holding nothing else) and promotes each one's next delivery. A lost promotion is
// in callback_recheck for the sweep, so these commits need not wait for the WAL flush.
func (q *queue) promoteAfter(ctx context.Context, ks []subjectKey, nowUS int64) error {
	var errs []error
	for _, k := range ks {
		err := q.db.InTx(ctx, func(tx *store.Tx) error {
			if q.pg() {
				if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE callback_subjects SET head = head WHERE endpoint_id = ? AND subject = ?`, k.endpointID, k.subject); err != nil {
				return err
			}
			if _, _, err := q.promote(ctx, tx, []subjectKey{k}, nowUS, nil); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM callback_recheck WHERE endpoint_id = ? AND subject = ?`, k.endpointID, k.subject)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("callback: promote %s %s: %w", k.endpointID, k.subject, err))
		}
	}
	return errors.Join(errs...)
}

// sweepLock is the advisory lock key that makes one instance at a time sweep.
const sweepLock = 0x76617370_63623031 // "vasp" "cb01"

// sweep promotes the subjects noted in callback_recheck (a recorder crashed between its
// commit and its promotion) and returns how many it handled. On PostgreSQL one instance at
// a time does it (an advisory lock; the others return at once); rows another transaction
// holds are skipped and stay for the next sweep.
func (q *queue) sweep(ctx context.Context, nowUS int64) (int, error) {
	var n int
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		lockedQ := `SELECT r.endpoint_id, r.subject FROM callback_recheck r ORDER BY r.endpoint_id, r.subject LIMIT 500`
		if q.pg() {
			var got bool
			if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(?)`, int64(sweepLock)).Scan(&got); err != nil || !got {
				return err
			}
			lockedQ = `SELECT s.endpoint_id, s.subject FROM callback_recheck r
				JOIN callback_subjects s ON s.endpoint_id = r.endpoint_id AND s.subject = r.subject
				ORDER BY s.endpoint_id, s.subject LIMIT 500 FOR UPDATE OF s SKIP LOCKED`
		}
		rows, err := tx.QueryContext(ctx, lockedQ)
		if err != nil {
			return err
		}
		var ks []subjectKey
		for rows.Next() {
			var k subjectKey
			if err := rows.Scan(&k.endpointID, &k.subject); err != nil {
				rows.Close()
				return err
			}
			ks = append(ks, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ks) == 0 {
			return err
		}
		if _, _, err := q.promote(ctx, tx, ks, nowUS, nil); err != nil {
			return err
		}
		for _, k := range ks {
			if _, err := tx.ExecContext(ctx, `DELETE FROM callback_recheck WHERE endpoint_id = ? AND subject = ?`, k.endpointID, k.subject); err != nil {
				return err
			}
		}
		n = len(ks)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("callback: sweep: %w", err)
	}
	return n, nil
}

// applyHealth applies endpoint health for the applied outcomes of a batch, one endpoint at
// a time in id order (after the delivery and subject rows: the lock order).
func (q *queue) applyHealth(ctx context.Context, tx *store.Tx, batch []outcome, applied []bool, hp healthPolicy, now time.Time) error {
	type health struct {
		answered, delivered, gone bool
		failures                  int
	}
	effects := map[string]*health{}
	for i, o := range batch {
		if !applied[i] {
			continue
		}
		h := effects[o.c.endpointID]
		if h == nil {
			h = &health{}
			effects[o.c.endpointID] = h
		}
		switch r := o.a.result; {
		case r.Outcome == Gone:
			h.gone = true
		case r.Outcome == Retry:
			h.failures++
		case r.Outcome == Delivered:
			h.answered, h.delivered = true, true
		case r.Outcome == Permanent && r.Code == CodeHTTP:
			// The endpoint answered: it is healthy, whatever it thought of this delivery.
			h.answered = true
		}
	}
	nowUS := store.Micros(now)
	var healthy, delivered []any
	for _, id := range slices.Sorted(maps.Keys(effects)) {
		h := effects[id]
		var err error
		switch {
		case h.gone:
			err = q.disable(ctx, tx, id, "410 Gone", nowUS)
		case h.answered:
			healthy = append(healthy, id)
			if h.delivered {
				delivered = append(delivered, id)
			}
		case h.failures > 0:
			err = q.failing(ctx, tx, id, h.failures, hp, now)
		}
		if err != nil {
			return err
		}
	}
	if len(healthy) == 0 {
		return nil
	}
	// The WHERE keeps the common case (nothing to reset, last success noted less than a
	// second ago) from writing, so healthy endpoints see little row contention.
	in := func(ids []any) string {
		if len(ids) == 0 {
			return "('')" // no id is empty
		}
		return "(?" + strings.Repeat(", ?", len(ids)-1) + ")"
	}
	args := append([]any{nowUS}, delivered...)
	args = append(append(append(append(args, nowUS), healthy...), delivered...), store.Micros(now.Add(-time.Second)))
	if _, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET failures = 0, failing_since = 0, circuit_until = 0,
		trips = 0, updated_at = ?, last_success_at = CASE WHEN id IN `+in(delivered)+` THEN ? ELSE last_success_at END
		WHERE id IN `+in(healthy)+` AND (failures > 0 OR circuit_until > 0 OR (id IN `+in(delivered)+` AND last_success_at < ?))`, args...); err != nil {
		return fmt.Errorf("callback: endpoint health: %w", err)
	}
	return nil
}

// failing counts n failed attempts against the endpoint: after the threshold of consecutive
// failures its circuit opens (paused for a cooldown that doubles per failed probe); after
// disableAfter of nothing but failures it is disabled.
func (q *queue) failing(ctx context.Context, tx *store.Tx, endpointID string, n int, hp healthPolicy, now time.Time) error {
	nowUS := store.Micros(now)
	var failures, trips int
	var since int64
	if err := tx.QueryRowContext(ctx, `UPDATE callback_endpoints SET failures = failures + ?,
		failing_since = CASE WHEN failing_since = 0 THEN ? ELSE failing_since END, updated_at = ?
		WHERE id = ? RETURNING failures, failing_since, trips`, n, nowUS, nowUS, endpointID).Scan(&failures, &since, &trips); err != nil {
		return fmt.Errorf("callback: endpoint health: %w", err)
	}
	if now.Sub(store.FromMicros(since)) >= hp.disableAfter {
		return q.disable(ctx, tx, endpointID, fmt.Sprintf("failing since %s", store.FromMicros(since).Format(time.RFC3339)), nowUS)
	}
	if failures >= hp.threshold {
		cool := hp.cooldown << min(trips, 20)
		if cool > hp.maxCooldown || cool <= 0 {
			cool = hp.maxCooldown
		}
		if _, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET circuit_until = ?, trips = trips + 1 WHERE id = ?`,
			store.Micros(now.Add(cool)), endpointID); err != nil {
			return fmt.Errorf("callback: open circuit: %w", err)
		}
		if trips == 0 {
			q.log.Warn("endpoint circuit open", "endpoint", endpointID, "failures", failures, "cooldown", cool)
		}
	}
	return nil
}

// disable stops deliveries to an endpoint; its open deliveries are kept (shown as paused)
// and sent once it is enabled again.
func (q *queue) disable(ctx context.Context, tx *store.Tx, endpointID, reason string, nowUS int64) error {
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "?")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET state = 'disabled', disabled_reason = ?, updated_at = ?
		WHERE id = ?`, reason, nowUS, endpointID); err != nil {
		return fmt.Errorf("callback: disable endpoint: %w", err)
	}
	q.log.Warn("endpoint disabled", "endpoint", endpointID, "reason", reason)
	return nil
}

// enable re-enables an endpoint, closes its circuit and makes its heads due now. The heads
// are updated first (deliveries before endpoints: the lock order), skipping those in flight,
// whose result will set their next attempt anyway.
func (q *queue) enable(ctx context.Context, id string, nowUS int64) error {
	return q.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE callback_deliveries SET tries = 0, next_at = ?
			WHERE endpoint_id = ? AND status = 'pending' AND lease_token = ''`, nowUS, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE callback_endpoints SET state = 'enabled', disabled_reason = '', failures = 0,
			failing_since = 0, circuit_until = 0, trips = 0, updated_at = ? WHERE id = ?`, nowUS, id)
		return err
	})
}

// requeue queues the endpoint's finished deliveries matching cond again and gives each
// affected subject a head if it has none. The subject rows are locked first (in order), so
// a concurrent enqueue or recording of the same subject is serialised with it.
func (q *queue) requeue(ctx context.Context, endpointID, cond string, nowUS int64, args ...any) (int64, error) {
	var n int64
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		sel := `SELECT DISTINCT subject FROM callback_deliveries WHERE endpoint_id = ? AND status IN ('failed', 'delivered') AND ` + cond
		rows, err := tx.QueryContext(ctx, sel, append([]any{endpointID}, args...)...)
		if err != nil {
			return err
		}
		var ks []subjectKey
		for rows.Next() {
			k := subjectKey{endpointID: endpointID}
			if err := rows.Scan(&k.subject); err != nil {
				rows.Close()
				return err
			}
			ks = append(ks, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		ks = sortKeys(ks)
		for _, k := range ks {
			if _, err := tx.ExecContext(ctx, `UPDATE callback_subjects SET head = head WHERE endpoint_id = ? AND subject = ?`, k.endpointID, k.subject); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE callback_deliveries SET status = 'queued', tries = 0, next_at = ?, finished_at = 0,
			updated_at = ?, lease_token = '', lease_until = 0 WHERE endpoint_id = ? AND status IN ('failed', 'delivered') AND `+cond,
			append([]any{nowUS, nowUS, endpointID}, args...)...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, _, err = q.promote(ctx, tx, ks, nowUS, nil)
		return err
	})
	return n, err
}

// purgeBatchSize bounds one purge transaction, so a large backlog never holds locks for long.
const purgeBatchSize = 1000

// purgeBatch deletes up to purgeBatchSize deliveries delivered before cutoff, with their
// attempts.
func (q *queue) purgeBatch(ctx context.Context, cutoff int64) (int64, error) {
	var n int64
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		// A delivered row's updated_at is its finished_at (written together when it is
		// recorded delivered); read by updated_at, the oldest are a range of the delivered
		// index (migration 00078), which the console's order by last change also walks.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM callback_deliveries
			WHERE status = 'delivered' AND updated_at < ? ORDER BY updated_at LIMIT ?`,
			cutoff, purgeBatchSize)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		in := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
		if _, err := tx.ExecContext(ctx, "DELETE FROM callback_attempts WHERE delivery_id IN ("+in+")", ids...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM callback_deliveries WHERE status = '"+StatusDelivered+"' AND id IN ("+in+")", ids...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return n, fmt.Errorf("callback: purge delivered: %w", err)
	}
	return n, nil
}

// endpointDepth is one endpoint's open deliveries: how many, and the oldest one's creation.
type endpointDepth struct {
	endpointID string
	n, oldest  int64
}

// depth reads what the metrics report: open deliveries per endpoint, and how many endpoints
// have an open circuit or are disabled.
func (q *queue) depth(ctx context.Context, nowUS int64) (eps []endpointDepth, open, disabled int64, err error) {
	rows, err := q.db.QueryContext(ctx, `SELECT endpoint_id, COUNT(*), MIN(created_at) FROM callback_deliveries
		WHERE status IN ('pending', 'queued') GROUP BY endpoint_id`)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("callback: depth: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d endpointDepth
		if err := rows.Scan(&d.endpointID, &d.n, &d.oldest); err != nil {
			return nil, 0, 0, fmt.Errorf("callback: depth: %w", err)
		}
		eps = append(eps, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, fmt.Errorf("callback: depth: %w", err)
	}
	err = q.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN state = 'enabled' AND circuit_until > ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = 'disabled' THEN 1 ELSE 0 END), 0) FROM callback_endpoints`, nowUS).Scan(&open, &disabled)
	if err != nil {
		return eps, 0, 0, fmt.Errorf("callback: depth: %w", err)
	}
	return eps, open, disabled, nil
}
