package travelrule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Record is one received callback as it is stored: the raw body (at most the size limit),
// when it arrived, and the id it keeps from the first moment (so a record that reached both
// the spool and the database is recognised on replay).
type Record struct {
	ID         string
	ReceivedAt time.Time
	Body       []byte
	// Truncated means the request was larger than the limit and Body holds its first bytes.
	Truncated bool
	// Size is the number of body bytes read (larger than len(Body) when truncated).
	Size int64
	// sealed is Body sealed for the inbox (bodyAD), when a spool entry read back held it.
	sealed []byte
}

// Outcome is what storing a callback did.
type Outcome string

// Outcomes of Accept.
const (
	OutcomeNew       Outcome = "new"
	OutcomeDuplicate Outcome = "duplicate"
	OutcomeRevision  Outcome = "revision"
	// OutcomeSpooled: the database could not take the callback in time; it is in the spool.
	OutcomeSpooled Outcome = "spooled"
	// outcomeReplayed: a spooled record that the database already had.
	outcomeReplayed Outcome = "replayed"
)

// Sealer seals personal data at rest; *seal.Keyring implements it.
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// Inbox states, as stored in travel_rule_inbox.state: what a callback was on arrival
// (pending: processable; quarantined), changed only when an operator re-processes one out of
// the quarantine. A pending callback is processed once the fold that read it deleted its
// row in travel_rule_pending (migration 00079); rows folded before that migration say
// processed.
const (
	statePending     = "pending"
	stateProcessed   = "processed"
	stateQuarantined = "quarantined"
)

func decodeRecord(r Record) Decoded {
	d := Decode(r.Body)
	if r.Truncated {
		d = d.quarantine(ProblemOversized)
	}
	return d
}

func bodyAD(id string) []byte { return []byte("travel_rule_inbox.body " + id) }

// item is a record ready to store: decoded, and its body sealed (outside the transaction),
// once prepared; a callback spilled to the spool is kept unprepared until its replay (see
// toSpool).
type item struct {
	rec      Record
	dec      Decoded
	sealed   []byte
	prepared bool
}

func (s *Service) prepare(r Record) (item, error) {
	it := item{rec: r, dec: decodeRecord(r), sealed: r.sealed, prepared: true}
	if it.sealed != nil {
		return it, nil
	}
	var err error
	it.sealed, err = s.seal(r.Body, bodyAD(r.ID))
	return it, err
}

const inboxCols = `(id, natural_key, revision, content_sha256, callback_type, verification_uuid, state, problem,
body, body_size, truncated, duplicates, received_at, last_seen_at)`

func (it item) inboxArgs(rev int, now int64) []any {
	state := statePending
	if it.dec.Problem != ProblemNone {
		state = stateQuarantined
	}
	d := it.dec
	return []any{it.rec.ID, d.NaturalKey, rev, d.ContentHash[:], d.Type, d.VerificationUUID, state,
		string(d.Problem), it.sealed, it.rec.Size, it.rec.Truncated, 0, store.Micros(it.rec.ReceivedAt), now}
}

// insertBatch stores items in tx and says for each whether it was new, a duplicate (same
// content: only the counter of the stored row moves), a revision (same natural key, other
// content) or already stored (replayed). Uniqueness is the database's: a concurrent copy waits
// on the unique index and then finds the row. Whatever the batch size it costs a few
// statements: receipts and first inserts are multi-row; on PostgreSQL, receipts, inserts
// and the usual repeats are one statement (storePG).
//
// Rows are written in natural-key order so that concurrent batches take the unique-index
// locks in the same order (no deadlock between them); rows of one key keep their arrival
// order, which numbers their revisions.
func (s *Service) insertBatch(ctx context.Context, tx *store.Tx, items []item) ([]Outcome, error) {
	if tx.Dialect() == store.Postgres {
		return s.storePG(ctx, tx, items)
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return strings.Compare(items[a].dec.NaturalKey, items[b].dec.NaturalKey)
	})
	outs := make([]Outcome, len(items))
	now := store.Micros(time.Now())

	// The receipt makes a request count once, however often it is stored: a request that
	// outlived its budget went to the spool and may be replayed before or after its batch
	// commits.
	var args []any
	for _, i := range order {
		args = append(args, items[i].rec.ID, store.Micros(items[i].rec.ReceivedAt))
	}
	fresh, err := returningIDs(ctx, tx, "INSERT INTO travel_rule_receipts (id, received_at) VALUES "+
		values(len(order), 2)+" ON CONFLICT DO NOTHING RETURNING id", args)
	if err != nil {
		return nil, fmt.Errorf("travelrule: inbox receipts: %w", err)
	}
	var live []int
	for _, i := range order {
		if fresh[items[i].rec.ID] {
			live = append(live, i)
		} else {
			outs[i] = outcomeReplayed
		}
	}
	if len(live) == 0 {
		return outs, nil
	}
	args = args[:0]
	for _, i := range live {
		args = append(args, items[i].inboxArgs(0, now)...)
	}
	inserted, err := returningIDs(ctx, tx, "INSERT INTO travel_rule_inbox "+inboxCols+" VALUES "+
		values(len(live), 14)+" ON CONFLICT DO NOTHING RETURNING id", args)
	if err != nil {
		return nil, fmt.Errorf("travelrule: inbox insert: %w", err)
	}
	var rest, stored []int
	for _, i := range live {
		if inserted[items[i].rec.ID] {
			outs[i] = OutcomeNew
			stored = append(stored, i)
		} else {
			rest = append(rest, i)
		}
	}
	if err := addPending(ctx, tx, items, stored); err != nil {
		return nil, err
	}
	return outs, s.resolveRepeats(ctx, tx, items, rest, outs, now)
}

// addPending records, in tx, the items at idx that were stored as inbox rows and are
// processable as waiting for their fold (travel_rule_pending).
func addPending(ctx context.Context, tx *store.Tx, items []item, idx []int) error {
	var args []any
	for _, i := range idx {
		if it := items[i]; it.dec.Problem == ProblemNone {
			args = append(args, it.dec.VerificationUUID, it.rec.ID, store.Micros(it.rec.ReceivedAt))
		}
	}
	if len(args) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO travel_rule_pending (verification_uuid, id, received_at) VALUES "+
		values(len(args)/3, 3), args...); err != nil {
		return fmt.Errorf("travelrule: inbox pending: %w", err)
	}
	return nil
}

// resolveRepeats decides, in tx, what the items at idx are that were not inserted: repeats
// of a stored content (only the counter of the stored row moves) or new content under a
// stored key (a revision); one statement per distinct content.
func (s *Service) resolveRepeats(ctx context.Context, tx *store.Tx, items []item, idx []int, outs []Outcome, now int64) error {
	byHash := map[[32]byte][]int{}
	var hashes [][32]byte
	for _, i := range idx {
		h := items[i].dec.ContentHash
		if byHash[h] == nil {
			hashes = append(hashes, h)
		}
		byHash[h] = append(byHash[h], i)
	}
	for _, h := range hashes {
		group := byHash[h]
		n, err := s.countDuplicates(ctx, tx, h, len(group), now)
		if err != nil {
			return err
		}
		if n == 1 {
			for _, i := range group {
				outs[i] = OutcomeDuplicate
			}
			continue
		}
		// New content under a taken key: the first is a revision, the rest repeat it.
		if outs[group[0]], err = s.insertRevision(ctx, tx, items[group[0]], now); err != nil {
			return err
		}
		if outs[group[0]] == OutcomeRevision {
			if err := addPending(ctx, tx, items, group[:1]); err != nil {
				return err
			}
		}
		if len(group) > 1 {
			if _, err := s.countDuplicates(ctx, tx, h, len(group)-1, now); err != nil {
				return err
			}
			for _, i := range group[1:] {
				outs[i] = OutcomeDuplicate
			}
		}
	}
	return nil
}

// pgStoreFast is the whole of a group commit on PostgreSQL in the common case, one
// statement: the receipts (first, so that a request stored twice at once, by a late batch
// and by the spool's replay, waits for the other and counts once); the inbox rows of the
// fresh requests, in natural-key order, and the pending rows of those processable; and, for the fresh requests not inserted whose
// content the statement's snapshot already holds, the repeat counters (those rows locked in
// content order, so that concurrent commits take them in one order). What it cannot settle
// (new content under a stored key, or a content committed by another transaction after its
// snapshot) resolveRepeats settles in the same transaction.
const pgStoreFast = `WITH v AS (SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BYTEA[]),
	CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BYTEA[]), CAST(? AS BIGINT[]),
	CAST(? AS BOOLEAN[]), CAST(? AS BIGINT[])) WITH ORDINALITY
	AS v(id, natural_key, content_sha256, callback_type, verification_uuid, state, problem, body, body_size, truncated, received_at, o)),
r AS (INSERT INTO travel_rule_receipts (id, received_at) SELECT v.id, v.received_at FROM v ORDER BY v.o
	ON CONFLICT DO NOTHING RETURNING id),
i AS (INSERT INTO travel_rule_inbox (id, natural_key, revision, content_sha256, callback_type, verification_uuid, state, problem,
	body, body_size, truncated, duplicates, received_at, last_seen_at)
	SELECT v.id, v.natural_key, 0, v.content_sha256, v.callback_type, v.verification_uuid, v.state, v.problem,
	  v.body, v.body_size, v.truncated, 0, v.received_at, ?
	FROM v JOIN r ON r.id = v.id ORDER BY v.o
	ON CONFLICT DO NOTHING RETURNING id),
p AS (INSERT INTO travel_rule_pending (verification_uuid, id, received_at)
	SELECT v.verification_uuid, v.id, v.received_at FROM v JOIN i ON i.id = v.id WHERE v.state = '` + statePending + `'),
d AS (SELECT v.content_sha256 AS h, COUNT(*) AS k FROM v JOIN r ON r.id = v.id
	WHERE NOT EXISTS (SELECT 1 FROM i WHERE i.id = v.id) GROUP BY v.content_sha256),
l AS (SELECT t.id, d.k FROM travel_rule_inbox t JOIN d ON t.content_sha256 = d.h
	ORDER BY t.content_sha256 FOR UPDATE OF t),
u AS (UPDATE travel_rule_inbox t SET duplicates = t.duplicates + l.k, last_seen_at = ?
	FROM l WHERE t.id = l.id RETURNING t.content_sha256)
SELECT v.o, EXISTS (SELECT 1 FROM r WHERE r.id = v.id), EXISTS (SELECT 1 FROM i WHERE i.id = v.id),
	EXISTS (SELECT 1 FROM u WHERE u.content_sha256 = v.content_sha256) FROM v`

// storePG stores items on PostgreSQL in tx: pgStoreFast, then what it left.
func (s *Service) storePG(ctx context.Context, tx *store.Tx, items []item) ([]Outcome, error) {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return strings.Compare(items[a].dec.NaturalKey, items[b].dec.NaturalKey)
	})
	n := len(items)
	ids, keys, types, uuids, states, problems := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hashes, bodies, sizes, truncs, at := make([][]byte, n), make([][]byte, n), make([]int64, n), make([]bool, n), make([]int64, n)
	for j, i := range order {
		it := items[i]
		d := it.dec
		state := statePending
		if d.Problem != ProblemNone {
			state = stateQuarantined
		}
		ids[j], keys[j], hashes[j], types[j], uuids[j], states[j], problems[j] = it.rec.ID, d.NaturalKey, d.ContentHash[:], d.Type, d.VerificationUUID, state, string(d.Problem)
		bodies[j], sizes[j], truncs[j], at[j] = it.sealed, it.rec.Size, it.rec.Truncated, store.Micros(it.rec.ReceivedAt)
	}
	now := store.Micros(time.Now())
	rows, err := tx.QueryContext(ctx, pgStoreFast, ids, keys, hashes, types, uuids, states, problems, bodies, sizes, truncs, at, now, now)
	if err != nil {
		return nil, fmt.Errorf("travelrule: inbox insert: %w", err)
	}
	outs := make([]Outcome, n)
	var rest []int
	func() {
		defer rows.Close()
		for rows.Next() {
			var o int
			var fresh, inserted, counted bool
			if err = rows.Scan(&o, &fresh, &inserted, &counted); err != nil {
				return
			}
			i := order[o-1]
			switch {
			case !fresh:
				outs[i] = outcomeReplayed
			case inserted:
				outs[i] = OutcomeNew
			case counted:
				outs[i] = OutcomeDuplicate
			default:
				rest = append(rest, i)
			}
		}
		err = rows.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("travelrule: inbox insert: %w", err)
	}
	slices.Sort(rest)
	return outs, s.resolveRepeats(ctx, tx, items, rest, outs, now)
}

// countDuplicates adds k repeats to the row holding content h; it returns 0 when there is none.
func (s *Service) countDuplicates(ctx context.Context, tx *store.Tx, h [32]byte, k int, now int64) (int64, error) {
	res, err := tx.ExecContext(ctx,
		"UPDATE travel_rule_inbox SET duplicates = duplicates + ?, last_seen_at = ? WHERE content_sha256 = ?", k, now, h[:])
	if err != nil {
		return 0, fmt.Errorf("travelrule: inbox duplicate: %w", err)
	}
	return res.RowsAffected()
}

// insertRevision stores it under the next free revision of its natural key. A concurrent
// batch may take that revision, or store the same content first: go round again.
func (s *Service) insertRevision(ctx context.Context, tx *store.Tx, it item, now int64) (Outcome, error) {
	for range 8 {
		var rev int
		if err := tx.QueryRowContext(ctx,
			"SELECT COALESCE(MAX(revision), -1) + 1 FROM travel_rule_inbox WHERE natural_key = ?", it.dec.NaturalKey).Scan(&rev); err != nil {
			return "", fmt.Errorf("travelrule: inbox revision: %w", err)
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO travel_rule_inbox "+inboxCols+" VALUES "+values(1, 14)+
			" ON CONFLICT DO NOTHING", it.inboxArgs(rev, now)...)
		if err != nil {
			return "", fmt.Errorf("travelrule: inbox revision: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return OutcomeRevision, nil
		}
		if n, err := s.countDuplicates(ctx, tx, it.dec.ContentHash, 1, now); err != nil || n == 1 {
			return OutcomeDuplicate, err
		}
	}
	return "", errors.New("travelrule: inbox insert: no free revision after 8 attempts")
}

// values returns "(?, ?), (?, ?)" for rows rows of cols placeholders.
func values(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// returningIDs runs a statement with RETURNING id and collects the ids.
func returningIDs(ctx context.Context, tx *store.Tx, q string, args []any) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

func (s *Service) seal(b, ad []byte) ([]byte, error) {
	if s.opts.Sealer == nil || b == nil {
		return b, nil
	}
	out, err := s.opts.Sealer.Seal(b, ad)
	if err != nil {
		return nil, fmt.Errorf("travelrule: seal: %w", err)
	}
	return out, nil
}

func (s *Service) open(b, ad []byte) ([]byte, error) {
	if s.opts.Sealer == nil || b == nil {
		return b, nil
	}
	out, err := s.opts.Sealer.Open(b, ad)
	if err != nil {
		return nil, fmt.Errorf("travelrule: open sealed value: %w", err)
	}
	return out, nil
}
