package travelrule

import (
	"context"
	"errors"
	"fmt"
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

// Inbox states.
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

// insert stores one record in tx and says whether it was new, a duplicate (same content:
// only its counter moves) or a revision (same natural key, other content). Uniqueness is the
// database's: a concurrent copy waits on the unique index and then finds the row.
func (s *Service) insert(ctx context.Context, tx *store.Tx, r Record, d Decoded) (Outcome, error) {
	// The receipt makes a request count once, however many times it is stored: a request
	// that outlived its budget went to the spool and may be replayed before or after its
	// batch commits.
	res, err := tx.ExecContext(ctx, "INSERT INTO travel_rule_receipts (id, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
		r.ID, store.Micros(r.ReceivedAt))
	if err != nil {
		return "", fmt.Errorf("travelrule: inbox receipt: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return outcomeReplayed, nil
	}
	body, err := s.seal(r.Body, bodyAD(r.ID))
	if err != nil {
		return "", err
	}
	state := statePending
	if d.Problem != ProblemNone {
		state = stateQuarantined
	}
	now := store.Micros(time.Now())
	const ins = `INSERT INTO travel_rule_inbox (id, natural_key, revision, content_sha256, callback_type,
	verification_uuid, state, problem, body, body_size, truncated, duplicates, received_at, last_seen_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING`
	args := func(rev int) []any {
		return []any{r.ID, d.NaturalKey, rev, d.ContentHash[:], d.Type, d.VerificationUUID, state,
			string(d.Problem), body, r.Size, r.Truncated, store.Micros(r.ReceivedAt), now}
	}
	for attempt := 0; attempt < 8; attempt++ {
		rev := 0
		if attempt > 0 {
			if err := tx.QueryRowContext(ctx,
				"SELECT COALESCE(MAX(revision), -1) + 1 FROM travel_rule_inbox WHERE natural_key = ?", d.NaturalKey).Scan(&rev); err != nil {
				return "", fmt.Errorf("travelrule: inbox revision: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, ins, args(rev)...)
		if err != nil {
			return "", fmt.Errorf("travelrule: inbox insert: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if rev == 0 {
				return OutcomeNew, nil
			}
			return OutcomeRevision, nil
		}
		res, err = tx.ExecContext(ctx,
			"UPDATE travel_rule_inbox SET duplicates = duplicates + 1, last_seen_at = ? WHERE content_sha256 = ?",
			now, d.ContentHash[:])
		if err != nil {
			return "", fmt.Errorf("travelrule: inbox duplicate: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return OutcomeDuplicate, nil
		}
		// Neither new nor the same content: the natural key is taken by other content.
		// Take the next revision; a concurrent revision makes us go round again.
	}
	return "", errors.New("travelrule: inbox insert: no free revision after 8 attempts")
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
