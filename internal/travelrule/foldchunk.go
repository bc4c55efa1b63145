package travelrule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
)

// A chunk of verifications is folded with a few statements for the whole chunk, not a few
// per verification (issue 16: eight statements per verification cost the process and
// PostgreSQL about as much CPU per callback as acknowledging it). foldChunk reads, derive
// decides and the write functions write; on PostgreSQL each step is one statement over
// arrays, on SQLite (one connection in process, where a statement costs no round trip) the
// writes stay one statement per row.

// folding is one verification of a chunk as read under its row lock: the stored record
// (version 0, PENDING, when there is none yet) and every processable callback stored about
// it.
type folding struct {
	old     Verification
	version int64
	stored  bool // the record exists (and is locked)
	cbs     []Received
}

// change is what folding one verification writes: the record at its next version, with its
// stored forms, whether the business is told (an event), and the jobs that follow it up.
type change struct {
	v         Verification
	version   int64
	screening string
	ivms      []byte // sealed; nil when there is none
	create    bool   // the record does not exist yet
	event     bool
	jobs      []river.JobArgs
}

// derive is the one home of what a fold changes: the record Fold derives from the callbacks,
// written when it differs from the stored one (ok false: nothing to write), announced when
// more than IVMS101 changed (redaction is not news), and the follow-up jobs its changes call
// for, in this order: apply (the originator's held deposits fail), denied (the payments kept
// for a denied withdrawal are given up), link (something to link it by appeared), hold (its
// risk reached the hold level).
func (s *Service) derive(f folding) (c change, ok bool, err error) {
	id, old := f.old.UUID, f.old
	v := Fold(id, f.cbs, *s.opts.Policy)
	if f.version > 0 && v.Same(old) {
		return change{}, false, nil
	}
	screening, err := json.Marshal(v.Screening())
	if err != nil {
		return change{}, false, err
	}
	c = change{v: v, version: f.version + 1, screening: string(screening), create: !f.stored}
	if len(v.IVMS101) > 0 {
		if c.ivms, err = s.seal(v.IVMS101, ivmsAD(id)); err != nil {
			return change{}, false, err
		}
	}
	c.event = c.version == 1 || !v.SameFacts(old)
	statusMoved := v.Status != old.Status
	if s.opts.Originator != nil && statusMoved && (v.Status == StatusDenied || v.Status == StatusError) {
		// The transactions held for this verification are failed by a job: the transfer
		// service changes them in transactions of its own.
		c.jobs = append(c.jobs, ApplyArgs{VerificationUUID: id})
	}
	if s.opts.Beneficiary != nil && statusMoved && v.Status == StatusDenied {
		// The payments kept for the withdrawals this verification is about will not be
		// applied: a job gives them up (the observer's store, transactions of its own).
		c.jobs = append(c.jobs, DeniedArgs{VerificationUUID: id})
	}
	if s.opts.Beneficiary != nil && ((v.TxHash != "" && old.TxHash == "") || (len(v.IVMS101) > 0 && len(old.IVMS101) == 0)) {
		// Something to link the verification by: the link job looks (and leaves a linked
		// verification alone).
		c.jobs = append(c.jobs, LinkArgs{VerificationUUID: id})
	}
	if s.holdDue(v.RiskLevel) && v.RiskLevel != old.RiskLevel {
		// The withdrawals this verification pays are held by a job: the transfer service
		// changes them in transactions of its own.
		c.jobs = append(c.jobs, HoldArgs{VerificationUUID: id})
	}
	return c, true, nil
}

// followUp is how a job following a fold up is inserted: on the travel-rule queue, retried
// for about a day.
func followUp(args river.JobArgs) river.InsertManyParams {
	return river.InsertManyParams{Args: args, InsertOpts: &river.InsertOpts{Queue: JobQueue, MaxAttempts: 25}}
}

// errFoldRace is returned by foldChunk when a verification it found without a record was
// created by a concurrent fold before it could create it: the chunk is folded again, in a
// new transaction, where it finds the record and locks it.
var errFoldRace = errors.New("a verification was created by a concurrent fold")

// foldChunk folds the verifications ids (sorted, distinct) in tx from every processable
// callback stored about them: it locks their records, takes their callbacks off the pending
// list (clearPending), reads their callbacks, derives each record (derive), and writes those
// that changed (creating the records missing, at their first version) with their events and
// jobs.
// The row locks serialise concurrent folds of a verification, and each reads the callbacks
// committed before it took the lock, so the last one to run sees everything. A record
// missing is created with its derived content, not as a placeholder written again at once
// (one row version, not two); a concurrent fold that creates it first makes this one fail
// with errFoldRace, to be retried. Folding again changes nothing.
func (s *Service) foldChunk(ctx context.Context, tx *store.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	now := time.Now().UTC()
	fs, err := s.lockVerifications(ctx, tx, ids)
	if err != nil {
		return err
	}
	if err := clearPending(ctx, tx, ids); err != nil {
		return err
	}
	if err := s.readCallbacks(ctx, tx, ids, fs); err != nil {
		return err
	}
	var (
		changes []change
		jobs    []river.InsertManyParams
	)
	for _, id := range ids {
		f := fs[id]
		c, ok, err := s.derive(*f)
		if err != nil {
			return fmt.Errorf("verification %s: %w", id, err)
		}
		if !ok {
			continue
		}
		changes = append(changes, c)
		for _, j := range c.jobs {
			jobs = append(jobs, followUp(j))
		}
	}
	if err := s.writeVerifications(ctx, tx, changes, now); err != nil {
		return err
	}
	if err := s.recordEvents(ctx, tx, changes, now); err != nil {
		return err
	}
	if len(jobs) > 0 {
		if err := s.jobs.EnqueueMany(ctx, tx, jobs); err != nil {
			return fmt.Errorf("enqueue follow-up jobs: %w", err)
		}
	}
	return nil
}

// oneOf returns the condition "col is one of vals" and its arguments: one array on
// PostgreSQL (one statement text whatever the number), a list of placeholders on SQLite.
func oneOf(d store.Dialect, col string, vals []string) (string, []any) {
	if d == store.Postgres {
		return col + " = ANY(CAST(? AS TEXT[]))", []any{vals}
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return col + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ") + ")", args
}

// lockVerifications locks and reads the records of ids, in byte order (so that concurrent
// folds of overlapping chunks wait for each other instead of deadlocking). An id without a
// record gets an empty one at version 0.
func (s *Service) lockVerifications(ctx context.Context, tx *store.Tx, ids []string) (map[string]*folding, error) {
	cond, args := oneOf(tx.Dialect(), "verification_uuid", ids)
	q := `SELECT verification_uuid, status, reason, message, tx_hash, vout, risk_level, screening, ivms101, version
	FROM travel_rule_verifications WHERE ` + cond
	if tx.Dialect() == store.Postgres {
		q += ` ORDER BY verification_uuid COLLATE "C" FOR UPDATE`
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("lock verifications: %w", err)
	}
	defer rows.Close()
	fs := make(map[string]*folding, len(ids))
	for rows.Next() {
		var (
			f         folding
			screening string
			sealed    []byte
		)
		o := &f.old
		if err := rows.Scan(&o.UUID, &o.Status, &o.Reason, &o.Message, &o.TxHash, &o.Vout, &o.RiskLevel, &screening,
			&sealed, &f.version); err != nil {
			return nil, fmt.Errorf("lock verifications: %w", err)
		}
		if sealed != nil {
			plain, err := s.open(sealed, ivmsAD(o.UUID))
			if err != nil {
				return nil, err
			}
			o.IVMS101 = plain
		}
		var sc Screening
		if err := json.Unmarshal([]byte(screening), &sc); err == nil {
			o.KYT, o.Alerts, o.WCO = sc.KYT, sc.Alerts, sc.WCO
		}
		f.stored = true
		fs[o.UUID] = &f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock verifications: %w", err)
	}
	for _, id := range ids {
		if fs[id] == nil {
			fs[id] = &folding{old: Verification{UUID: id, Status: StatusPending, RiskLevel: RiskNone}}
		}
	}
	return fs, nil
}

// readCallbacks reads and decodes every processable callback about the verifications of
// fs. A callback whose acknowledgement's decode is
// kept (decodedCache) is not decoded again.
func (s *Service) readCallbacks(ctx context.Context, tx *store.Tx, ids []string, fs map[string]*folding) error {
	known := s.decoded.take(ids)
	cond, args := oneOf(tx.Dialect(), "verification_uuid", ids)
	rows, err := tx.QueryContext(ctx, `SELECT verification_uuid, id, revision, body FROM travel_rule_inbox
	WHERE `+cond+` AND state <> ?`, append(args, stateQuarantined)...)
	if err != nil {
		return fmt.Errorf("read callbacks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			u, rowID string
			rev      int
			sealed   []byte
		)
		if err := rows.Scan(&u, &rowID, &rev, &sealed); err != nil {
			return fmt.Errorf("read callbacks: %w", err)
		}
		f := fs[u]
		if f == nil {
			return fmt.Errorf("read callbacks: callback %s about %s, not asked for", rowID, u)
		}
		d, ok := known[rowID]
		if !ok {
			body, err := s.open(sealed, bodyAD(rowID))
			if err != nil {
				return err
			}
			d = Decode(body)
		}
		f.cbs = append(f.cbs, Received{Revision: rev, Decoded: d})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read callbacks: %w", err)
	}
	return nil
}

const (
	insertVerification = `INSERT INTO travel_rule_verifications (status, reason, message, tx_hash, vout, risk_level,
	screening, ivms101, version, created_at, updated_at, verification_uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING`
	updateVerification = `UPDATE travel_rule_verifications SET status = ?, reason = ?, message = ?, tx_hash = ?, vout = ?,
	risk_level = ?, screening = ?, ivms101 = ?, version = ?, updated_at = ? WHERE verification_uuid = ?`
	pgVerifications = `unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]),
	  CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BYTEA[]), CAST(? AS BIGINT[]))
	  AS u(id, status, reason, message, tx_hash, vout, risk_level, screening, ivms101, version)`
	// pgInsertVerifications creates them in byte order, the order in which folds lock them.
	pgInsertVerifications = `INSERT INTO travel_rule_verifications (verification_uuid, status, reason, message,
	tx_hash, vout, risk_level, screening, ivms101, version, created_at, updated_at)
	SELECT u.id, u.status, u.reason, u.message, u.tx_hash, u.vout, u.risk_level, u.screening, u.ivms101, u.version, ?, ?
	FROM ` + pgVerifications + ` ORDER BY u.id COLLATE "C"
	ON CONFLICT DO NOTHING`
	pgUpdateVerifications = `UPDATE travel_rule_verifications t SET status = u.status, reason = u.reason,
	message = u.message, tx_hash = u.tx_hash, vout = u.vout, risk_level = u.risk_level, screening = u.screening,
	ivms101 = u.ivms101, version = u.version, updated_at = ?
	FROM ` + pgVerifications + ` WHERE t.verification_uuid = u.id`
)

// writeVerifications writes the changed records: it creates those at their first version
// (errFoldRace when another fold created one meanwhile) and updates the others (their rows
// are locked).
func (s *Service) writeVerifications(ctx context.Context, tx *store.Tx, cs []change, now time.Time) error {
	var created, updated []change
	for _, c := range cs {
		if c.create {
			created = append(created, c)
		} else {
			updated = append(updated, c)
		}
	}
	at := store.Micros(now)
	if tx.Dialect() != store.Postgres {
		for _, c := range cs {
			v := c.v
			args := []any{v.Status, v.Reason, v.Message, v.TxHash, v.Vout, v.RiskLevel, c.screening, c.ivms, c.version}
			q := updateVerification
			if c.create {
				q, args = insertVerification, append(args, at)
			}
			res, err := tx.ExecContext(ctx, q, append(args, at, v.UUID)...)
			if err != nil {
				return fmt.Errorf("write verification: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("write verification %s: %w", v.UUID, errFoldRace)
			}
		}
		return nil
	}
	if len(created) > 0 {
		res, err := tx.ExecContext(ctx, pgInsertVerifications, append([]any{at, at}, pgVerificationArrays(created)...)...)
		if err != nil {
			return fmt.Errorf("create verifications: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(created)) {
			return fmt.Errorf("create verifications: %w", errFoldRace)
		}
	}
	if len(updated) > 0 {
		if _, err := tx.ExecContext(ctx, pgUpdateVerifications, append([]any{at}, pgVerificationArrays(updated)...)...); err != nil {
			return fmt.Errorf("update verifications: %w", err)
		}
	}
	return nil
}

// pgVerificationArrays returns the arrays of pgVerifications for cs.
func pgVerificationArrays(cs []change) []any {
	n := len(cs)
	ids, statuses, reasons, messages, hashes, vouts, risks, screenings := make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ivms, versions := make([][]byte, n), make([]int64, n)
	for i, c := range cs {
		v := c.v
		ids[i], statuses[i], reasons[i], messages[i], hashes[i], vouts[i], risks[i], screenings[i] = v.UUID,
			string(v.Status), v.Reason, v.Message, v.TxHash, v.Vout, string(v.RiskLevel), c.screening
		ivms[i], versions[i] = c.ivms, c.version
	}
	return []any{ids, statuses, reasons, messages, hashes, vouts, risks, screenings, ivms, versions}
}

// EventBody is the body of travel_rule.verification_updated (no personal data).
type EventBody struct {
	VerificationUUID string    `json:"verification_uuid"`
	Status           Status    `json:"status"`
	Reason           string    `json:"reason"`
	Message          string    `json:"message"`
	TxHash           string    `json:"tx_hash"`
	Vout             string    `json:"vout"`
	RiskLevel        RiskLevel `json:"risk_level"`
	// TransactionID is the SEP-6 transaction the verification is about (the first linked;
	// TransactionIDs lists them all), "" when none is known yet.
	TransactionID  string    `json:"transaction_id"`
	TransactionIDs []string  `json:"transaction_ids"`
	Version        int64     `json:"version"`
	UpdatedAt      time.Time `json:"updated_at"`
}

const (
	insertEvent = `INSERT INTO travel_rule_events (id, verification_uuid, version, body, occurred_at)
	VALUES (?, ?, ?, ?, ?)`
	pgInsertEvents = `INSERT INTO travel_rule_events (id, verification_uuid, version, body, occurred_at)
	SELECT id, verification_uuid, version, body, ?
	FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]))
	  AS u(id, verification_uuid, version, body)`
)

// recordEvents appends the changes the business is told about to travel_rule_events and
// hands each to the business outbox, in the transaction of the change. The event names the
// transactions the verification is linked to, oldest link first.
func (s *Service) recordEvents(ctx context.Context, tx *store.Tx, cs []change, now time.Time) error {
	var uuids []string
	for _, c := range cs {
		if c.event {
			uuids = append(uuids, c.v.UUID)
		}
	}
	if len(uuids) == 0 {
		return nil
	}
	linked, err := linkedTransactions(ctx, tx, uuids)
	if err != nil {
		return err
	}
	var (
		msgs                 []callback.Message
		eventIDs, vs, bodies []string
		versions             []int64
	)
	for _, c := range cs {
		if !c.event {
			continue
		}
		v := c.v
		ev := EventBody{
			VerificationUUID: v.UUID, Status: v.Status, Reason: v.Reason, Message: v.Message, TxHash: v.TxHash,
			Vout: v.Vout, RiskLevel: v.RiskLevel, Version: c.version, UpdatedAt: now, TransactionIDs: []string{},
		}
		ev.TransactionIDs = append(ev.TransactionIDs, linked[v.UUID]...)
		if len(ev.TransactionIDs) > 0 {
			ev.TransactionID = ev.TransactionIDs[0]
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		eventID := uuid.Must(uuid.NewV7()).String()
		eventIDs, vs, versions, bodies = append(eventIDs, eventID), append(vs, v.UUID), append(versions, c.version),
			append(bodies, string(body))
		msgs = append(msgs, callback.Message{
			EventID: eventID, Type: EventType, Subject: "verification:" + v.UUID, OccurredAt: now, Body: body,
		})
	}
	at := store.Micros(now)
	if tx.Dialect() == store.Postgres {
		if _, err := tx.ExecContext(ctx, pgInsertEvents, at, eventIDs, vs, versions, bodies); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
	} else {
		for i := range eventIDs {
			if _, err := tx.ExecContext(ctx, insertEvent, eventIDs[i], vs[i], versions[i], bodies[i], at); err != nil {
				return fmt.Errorf("record event: %w", err)
			}
		}
	}
	s.metrics.updates.Add(float64(len(msgs)))
	if s.opts.Events == nil {
		return nil
	}
	for _, m := range msgs {
		if err := s.opts.Events.Business(ctx, tx, m); err != nil {
			return fmt.Errorf("record business event: %w", err)
		}
	}
	return nil
}

// linkedTransactions returns, per verification of uuids, the transactions it is linked to,
// oldest link first (the order Links shows).
func linkedTransactions(ctx context.Context, tx *store.Tx, uuids []string) (map[string][]string, error) {
	cond, args := oneOf(tx.Dialect(), "verification_uuid", uuids)
	rows, err := tx.QueryContext(ctx, `SELECT verification_uuid, transaction_id FROM travel_rule_links WHERE `+cond+
		` ORDER BY created_at, verification_uuid, transaction_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("travelrule: read links: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var u, t string
		if err := rows.Scan(&u, &t); err != nil {
			return nil, fmt.Errorf("travelrule: read links: %w", err)
		}
		out[u] = append(out[u], t)
	}
	return out, rows.Err()
}

// clearPending takes the callbacks about the verifications ids off the pending list, before
// the fold reads them: each statement of a transaction sees at least what the one before it
// saw committed, so every callback deleted here is read by readCallbacks, and one committed
// meanwhile is read as well but stays pending, for the folder round its own commit noted
// (folding it again changes nothing). Deleting a narrow row writes no index entry; the
// processed mark it replaces rewrote the callback's inbox row, body and five index entries
// included (issue 16, migration 00079). Concurrent folds of one verification wait for each
// other on its record's row lock, or, while it has none, on these rows' locks.
func clearPending(ctx context.Context, tx *store.Tx, ids []string) error {
	cond, args := oneOf(tx.Dialect(), "verification_uuid", ids)
	if _, err := tx.ExecContext(ctx, "DELETE FROM travel_rule_pending WHERE "+cond, args...); err != nil {
		return fmt.Errorf("clear pending: %w", err)
	}
	return nil
}
