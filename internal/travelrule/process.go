package travelrule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
)

// EventType is the business event recorded on every change of a verification.
const EventType = "travel_rule.verification_updated"

// ProcessArgs is the job that (re)derives the records of some verifications from their
// stored callbacks. It is idempotent: running it twice changes nothing the second time.
type ProcessArgs struct {
	UUIDs []string `json:"uuids"`
}

// Kind implements river.JobArgs.
func (ProcessArgs) Kind() string { return "travel_rule_process" }

type processWorker struct {
	river.WorkerDefaults[ProcessArgs]
	s *Service
}

func (w *processWorker) Work(ctx context.Context, j *river.Job[ProcessArgs]) error {
	return w.s.refoldAll(ctx, j.Args.UUIDs)
}

// refoldChunk is how many verifications one processing transaction derives: enough to share
// the commit. On SQLite, whose one connection the acknowledgements wait for while a
// processing transaction holds it, a smaller chunk keeps their p99 down (issue 16).
func (s *Service) refoldChunk() int {
	if s.db.Dialect() == store.SQLite {
		return 4
	}
	return 16
}

// refoldAll derives the given verifications, refoldChunk per transaction, in uuid order (so
// concurrent transactions lock rows in the same order).
func (s *Service) refoldAll(ctx context.Context, uuids []string) error {
	uuids = slices.Sorted(slices.Values(uuids))
	uuids = slices.Compact(uuids)
	uuids, err := s.withPending(ctx, uuids)
	if err != nil {
		return err
	}
	// A chunk that fails does not hold back the chunks after it (the caller retries them all;
	// folding twice changes nothing).
	var errs []error
	for len(uuids) > 0 && ctx.Err() == nil {
		chunk := uuids[:min(s.refoldChunk(), len(uuids))]
		uuids = uuids[len(chunk):]
		if err := s.db.InTx(ctx, func(tx *store.Tx) error {
			for _, u := range chunk {
				if _, err := s.refoldTx(ctx, tx, u); err != nil {
					return fmt.Errorf("travelrule: process verification %s: %w", u, err)
				}
			}
			return nil
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, ctx.Err())...)
}

// withPending keeps the verifications that have callbacks still pending. The others were
// folded, with every callback stored about them, by a job that ran after their callbacks were
// committed (a fold marks processed exactly what it read, under the verification's row lock),
// so folding them again would change nothing. Under load this is what keeps processing
// cheap: the five callbacks of a verification come in different group commits, each with its
// own job, and the first job to run folds all those already committed; the later ones skip.
func (s *Service) withPending(ctx context.Context, uuids []string) ([]string, error) {
	if len(uuids) == 0 {
		return nil, nil
	}
	var out []string
	for chunk := range slices.Chunk(uuids, 500) {
		args := []any{statePending}
		for _, u := range chunk {
			args = append(args, u)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT verification_uuid FROM travel_rule_inbox WHERE state = ?
		AND verification_uuid IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("travelrule: read pending callbacks: %w", err)
		}
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return nil, fmt.Errorf("travelrule: read pending callbacks: %w", err)
			}
			out = append(out, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("travelrule: read pending callbacks: %w", err)
		}
	}
	slices.Sort(out)
	return out, nil
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

func ivmsAD(id string) []byte { return []byte("travel_rule_verifications.ivms101 " + id) }

// refoldTx derives the record of one verification from every processable callback stored
// about it and writes it when it changed, with its event (when more than IVMS101 changed). The
// row lock on the verification serialises concurrent refolds, and each reads the callbacks
// committed before it took the lock, so the last one to run sees everything.
func (s *Service) refoldTx(ctx context.Context, tx *store.Tx, id string) (bool, error) {
	now := time.Now().UTC()
	if _, err := tx.ExecContext(ctx, `INSERT INTO travel_rule_verifications (verification_uuid, status, reason,
	message, tx_hash, vout, risk_level, screening, ivms101, version, created_at, updated_at)
	VALUES (?, ?, '', '', '', '', ?, '{}', NULL, 0, ?, ?) ON CONFLICT DO NOTHING`,
		id, StatusPending, RiskNone, store.Micros(now), store.Micros(now)); err != nil {
		return false, fmt.Errorf("create: %w", err)
	}
	q := `SELECT status, reason, message, tx_hash, vout, risk_level, screening, ivms101, version
	FROM travel_rule_verifications WHERE verification_uuid = ?`
	if tx.Dialect() == store.Postgres {
		q += " FOR UPDATE"
	}
	var (
		old       Verification
		screening string
		sealed    []byte
		version   int64
	)
	old.UUID = id
	if err := tx.QueryRowContext(ctx, q, id).Scan(&old.Status, &old.Reason, &old.Message, &old.TxHash,
		&old.Vout, &old.RiskLevel, &screening, &sealed, &version); err != nil {
		return false, fmt.Errorf("lock: %w", err)
	}
	if sealed != nil {
		plain, err := s.open(sealed, ivmsAD(id))
		if err != nil {
			return false, err
		}
		old.IVMS101 = plain
	}
	var sc Screening
	if err := json.Unmarshal([]byte(screening), &sc); err == nil {
		old.KYT, old.Alerts, old.WCO = sc.KYT, sc.Alerts, sc.WCO
	}

	cbs, ids, err := s.loadCallbacks(ctx, tx, id)
	if err != nil {
		return false, err
	}
	v := Fold(id, cbs, *s.opts.Policy)
	if version > 0 && v.Same(old) {
		return false, s.markProcessed(ctx, tx, ids)
	}
	screenJSON, err := json.Marshal(v.Screening())
	if err != nil {
		return false, err
	}
	var ivms []byte
	if len(v.IVMS101) > 0 {
		if ivms, err = s.seal(v.IVMS101, ivmsAD(id)); err != nil {
			return false, err
		}
	}
	version++
	if _, err := tx.ExecContext(ctx, `UPDATE travel_rule_verifications SET status = ?, reason = ?, message = ?,
	tx_hash = ?, vout = ?, risk_level = ?, screening = ?, ivms101 = ?, version = ?, updated_at = ?
	WHERE verification_uuid = ?`,
		v.Status, v.Reason, v.Message, v.TxHash, v.Vout, v.RiskLevel, string(screenJSON), ivms, version,
		store.Micros(now), id); err != nil {
		return false, fmt.Errorf("update: %w", err)
	}
	if version == 1 || !v.SameFacts(old) {
		if err := s.recordEvent(ctx, tx, v, version, now); err != nil {
			return false, err
		}
		s.metrics.updates.Inc()
	}
	if s.opts.Originator != nil && v.Status != old.Status && (v.Status == StatusDenied || v.Status == StatusError) {
		// The transactions held for this verification are failed by a job: the transfer
		// service changes them in transactions of its own.
		if err := s.jobs.Enqueue(ctx, tx, ApplyArgs{VerificationUUID: id}, &river.InsertOpts{Queue: JobQueue, MaxAttempts: 25}); err != nil {
			return false, fmt.Errorf("enqueue apply: %w", err)
		}
	}
	if s.opts.Beneficiary != nil && v.Status != old.Status && v.Status == StatusDenied {
		// The payments kept for the withdrawals this verification is about will not be
		// applied: a job gives them up (the observer's store, transactions of its own).
		if err := s.jobs.Enqueue(ctx, tx, DeniedArgs{VerificationUUID: id}, &river.InsertOpts{Queue: JobQueue, MaxAttempts: 25}); err != nil {
			return false, fmt.Errorf("enqueue denied: %w", err)
		}
	}
	if s.opts.Beneficiary != nil && ((v.TxHash != "" && old.TxHash == "") || (len(v.IVMS101) > 0 && len(old.IVMS101) == 0)) {
		// Something to link the verification by: the link job looks (and leaves a linked
		// verification alone).
		if err := s.jobs.Enqueue(ctx, tx, LinkArgs{VerificationUUID: id}, &river.InsertOpts{Queue: JobQueue, MaxAttempts: 25}); err != nil {
			return false, fmt.Errorf("enqueue link: %w", err)
		}
	}
	if s.holdDue(v.RiskLevel) && v.RiskLevel != old.RiskLevel {
		// The withdrawals this verification pays are held by a job: the transfer service
		// changes them in transactions of its own.
		if err := s.enqueueHold(ctx, tx, id); err != nil {
			return false, fmt.Errorf("enqueue hold: %w", err)
		}
	}
	return true, s.markProcessed(ctx, tx, ids)
}

// loadCallbacks reads and decodes every processable callback about a verification, and
// returns the ids of those still pending.
func (s *Service) loadCallbacks(ctx context.Context, tx *store.Tx, id string) ([]Received, []string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, revision, state, body FROM travel_rule_inbox
	WHERE verification_uuid = ? AND state <> ?`, id, stateQuarantined)
	if err != nil {
		return nil, nil, fmt.Errorf("read callbacks: %w", err)
	}
	defer rows.Close()
	var (
		out     []Received
		pending []string
	)
	for rows.Next() {
		var (
			rowID, state string
			rev          int
			sealed       []byte
		)
		if err := rows.Scan(&rowID, &rev, &state, &sealed); err != nil {
			return nil, nil, fmt.Errorf("read callbacks: %w", err)
		}
		body, err := s.open(sealed, bodyAD(rowID))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Received{Revision: rev, Decoded: Decode(body)})
		if state == statePending {
			pending = append(pending, rowID)
		}
	}
	return out, pending, rows.Err()
}

// markProcessed marks processed the callbacks this fold read as pending. Only those: one committed after
// the read stays pending for the folder round its own commit noted. The rows are found by
// id alone: the verification's row lock keeps them pending until this transaction ends
// (only a fold marks a row processed), and a condition on state = pending let PostgreSQL's
// planner, without statistics on a young table, intersect the primary key with the
// (state, received_at) index, walking every pending row of a burst for each fold (0.7-1.5 ms
// per fold with 4,000 pending, measured; issue 16).
func (s *Service) markProcessed(ctx context.Context, tx *store.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{stateProcessed}
	for _, id := range ids {
		args = append(args, id)
	}
	q := "UPDATE travel_rule_inbox SET state = ? WHERE id IN (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("mark processed: %w", err)
	}
	return nil
}

// recordEvent appends the change to travel_rule_events and hands it to the business outbox,
// both in the transaction of the change.
func (s *Service) recordEvent(ctx context.Context, tx *store.Tx, v Verification, version int64, now time.Time) error {
	ls, _, err := links(ctx, tx, "verification_uuid", v.UUID)
	if err != nil {
		return err
	}
	ev := EventBody{
		VerificationUUID: v.UUID, Status: v.Status, Reason: v.Reason, Message: v.Message, TxHash: v.TxHash,
		Vout: v.Vout, RiskLevel: v.RiskLevel, Version: version, UpdatedAt: now, TransactionIDs: []string{},
	}
	for _, l := range ls {
		ev.TransactionIDs = append(ev.TransactionIDs, l.TransactionID)
	}
	if len(ev.TransactionIDs) > 0 {
		ev.TransactionID = ev.TransactionIDs[0]
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	eventID := uuid.Must(uuid.NewV7()).String()
	if _, err := tx.ExecContext(ctx, `INSERT INTO travel_rule_events (id, verification_uuid, version, body, occurred_at)
	VALUES (?, ?, ?, ?, ?)`, eventID, v.UUID, version, string(body), store.Micros(now)); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	if s.opts.Events == nil {
		return nil
	}
	if err := s.opts.Events.Business(ctx, tx, callback.Message{
		EventID: eventID, Type: EventType, Subject: "verification:" + v.UUID, OccurredAt: now, Body: body,
	}); err != nil {
		return fmt.Errorf("record business event: %w", err)
	}
	return nil
}

// stripIVMS101 removes data.ivms101 from a callback body, keeping everything else as sent
// (numbers as written). Bodies that do not parse are returned as nil: nothing of them is kept.
func stripIVMS101(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	if data, ok := m["data"].(map[string]any); ok {
		for k := range data {
			if bytes.EqualFold([]byte(k), []byte("ivms101")) {
				delete(data, k)
			}
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return out
}

// Sweep processes the verifications that have callbacks still pending since before
// olderThan, and returns how many it processed.
func (s *Service) Sweep(ctx context.Context, olderThan time.Time) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT verification_uuid FROM travel_rule_inbox
	WHERE state = ? AND received_at < ? LIMIT 1000`, statePending, store.Micros(olderThan))
	if err != nil {
		return 0, fmt.Errorf("travelrule: sweep: %w", err)
	}
	var uuids []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return 0, fmt.Errorf("travelrule: sweep: %w", err)
		}
		uuids = append(uuids, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("travelrule: sweep: %w", err)
	}
	if err := s.refoldAll(ctx, uuids); err != nil {
		return 0, err
	}
	return len(uuids), nil
}
