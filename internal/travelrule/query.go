package travelrule

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// ErrNotFound is returned for an unknown verification or quarantined callback.
var ErrNotFound = errors.New("travelrule: not found")

// ErrBadCursor is returned for a cursor this package did not make (the store's rule for
// every keyset page).
var ErrBadCursor = store.ErrBadCursor

// StoredCallback describes one stored callback (never its body).
type StoredCallback struct {
	ID            string    `json:"id"`
	CallbackType  string    `json:"callback_type"`
	NaturalKey    string    `json:"natural_key"`
	Revision      int       `json:"revision"`
	State         string    `json:"state"`
	Problem       string    `json:"problem,omitempty"`
	ContentSHA256 string    `json:"content_sha256"`
	Size          int64     `json:"size"`
	Truncated     bool      `json:"truncated"`
	Duplicates    int64     `json:"duplicates"`
	ReceivedAt    time.Time `json:"received_at"`
	LastSeenAt    time.Time `json:"last_seen_at"`
	Redacted      bool      `json:"redacted"`
}

// VerificationView is a verification as the admin API shows it.
type VerificationView struct {
	VerificationUUID string           `json:"verification_uuid"`
	Status           Status           `json:"status"`
	Reason           string           `json:"reason"`
	Message          string           `json:"message"`
	TxHash           string           `json:"tx_hash"`
	Vout             string           `json:"vout"`
	RiskLevel        RiskLevel        `json:"risk_level"`
	Screening        json.RawMessage  `json:"screening"`
	IVMS101          json.RawMessage  `json:"ivms101"`
	Version          int64            `json:"version"`
	CreatedAt        *time.Time       `json:"created_at"`
	UpdatedAt        *time.Time       `json:"updated_at"`
	Callbacks        []StoredCallback `json:"callbacks,omitempty"`
	// Transactions are the SEP-6 transactions the verification is about.
	Transactions []Link `json:"transactions"`
	// Calls are the calls exchanged with the enclave about it, bodies included.
	Calls []Call `json:"calls,omitempty"`
}

// callbackCols are the columns of a StoredCallback, read from travel_rule_inbox; its state is
// processed once a pending callback's row in travel_rule_pending is gone (see statePending).
const callbackCols = `id, callback_type, natural_key, revision,
CASE WHEN state = '` + statePending + `' AND NOT EXISTS (SELECT 1 FROM travel_rule_pending p
  WHERE p.verification_uuid = travel_rule_inbox.verification_uuid AND p.id = travel_rule_inbox.id)
  THEN '` + stateProcessed + `' ELSE state END,
problem, content_sha256, body_size, truncated, duplicates, received_at, last_seen_at, redacted_at`

func scanCallback(rows *sql.Rows) (StoredCallback, error) {
	var (
		c                  StoredCallback
		hash               []byte
		received, lastSeen int64
		redacted           sql.NullInt64
	)
	err := rows.Scan(&c.ID, &c.CallbackType, &c.NaturalKey, &c.Revision, &c.State, &c.Problem, &hash, &c.Size,
		&c.Truncated, &c.Duplicates, &received, &lastSeen, &redacted)
	c.ContentSHA256 = hex.EncodeToString(hash)
	c.ReceivedAt, c.LastSeenAt, c.Redacted = store.FromMicros(received), store.FromMicros(lastSeen), redacted.Valid
	return c, err
}

// Verification returns one verification with every callback stored about it. A verification
// whose callbacks are stored but not yet processed is shown PENDING; one nothing is known
// about is ErrNotFound.
func (s *Service) Verification(ctx context.Context, id string) (VerificationView, error) {
	v := VerificationView{VerificationUUID: id, Status: StatusPending, RiskLevel: RiskNone, Screening: json.RawMessage(`{}`)}
	var (
		screening        string
		sealed           []byte
		created, updated int64
		found            bool
	)
	// Callbacks first: a callback read as processed was folded by a transaction that also
	// wrote the record read next, so the view never shows a processed callback whose effect
	// is missing.
	rows, err := s.db.QueryContext(ctx, "SELECT "+callbackCols+
		" FROM travel_rule_inbox WHERE verification_uuid = ? ORDER BY received_at, id", id)
	if err != nil {
		return v, fmt.Errorf("travelrule: read callbacks: %w", err)
	}
	for rows.Next() {
		c, err := scanCallback(rows)
		if err != nil {
			rows.Close()
			return v, fmt.Errorf("travelrule: read callbacks: %w", err)
		}
		v.Callbacks = append(v.Callbacks, c)
	}
	rows.Close() // before the next query: SQLite has one connection
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("travelrule: read callbacks: %w", err)
	}
	err = s.db.QueryRowContext(ctx, `SELECT status, reason, message, tx_hash, vout, risk_level, screening,
	ivms101, version, created_at, updated_at FROM travel_rule_verifications WHERE verification_uuid = ?`, id).
		Scan(&v.Status, &v.Reason, &v.Message, &v.TxHash, &v.Vout, &v.RiskLevel, &screening, &sealed, &v.Version, &created, &updated)
	switch {
	case err == nil:
		found = true
		v.Screening = json.RawMessage(screening)
		c, u := store.FromMicros(created), store.FromMicros(updated)
		v.CreatedAt, v.UpdatedAt = &c, &u
		if sealed != nil {
			plain, err := s.open(sealed, ivmsAD(id))
			if err != nil {
				return v, err
			}
			v.IVMS101 = plain
		}
	case !errors.Is(err, sql.ErrNoRows):
		return v, fmt.Errorf("travelrule: read verification: %w", err)
	}
	if v.Transactions, err = s.Links(ctx, id); err != nil {
		return v, err
	}
	if v.Transactions == nil {
		v.Transactions = []Link{}
	}
	if v.Calls, err = s.Calls(ctx, id); err != nil {
		return v, err
	}
	if !found && len(v.Callbacks) == 0 && len(v.Calls) == 0 && len(v.Transactions) == 0 {
		return v, ErrNotFound
	}
	return v, nil
}

// Filter selects verifications for ListVerifications.
type Filter struct {
	Status    Status
	RiskLevel RiskLevel
	// Since keeps verifications updated at or after it.
	Since time.Time
	// Sort is the order: SortUpdated (the default), SortStatus or SortRisk (by severity),
	// ascending unless Desc.
	Sort string
	Desc bool
	// Cursor continues a previous page; Limit caps the page (default 50, at most 500).
	Cursor string
	Limit  int
}

// The orders ListVerifications sorts in, each on its own index ending in the uuid
// (migration 00075).
const (
	SortUpdated = ""
	SortStatus  = "status"
	SortRisk    = "risk"
)

// riskRank orders risk levels by severity in SQL; the index travel_rule_verifications_risk
// is on this very expression, so both must change together.
const riskRank = `(CASE risk_level WHEN 'none' THEN 0 WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 WHEN 'severe' THEN 4 ELSE -1 END)`

var verificationSorts = map[string]store.Keyset{
	SortUpdated: {"updated_at", "verification_uuid"},
	SortStatus:  {"status", "verification_uuid"},
	SortRisk:    {riskRank, "verification_uuid"},
}

// ErrBadSort is returned for a Filter.Sort ListVerifications does not know.
var ErrBadSort = errors.New("travelrule: verifications sort by updated, status or risk")

// rank is a risk level's place in riskRank's order.
func rank(l RiskLevel) int {
	switch l {
	case "none":
		return 0
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	case "severe":
		return 4
	}
	return -1
}

// ListVerifications returns verifications in update order (oldest first), or in f's
// order, and the cursor of the next page ("" at the end). Callbacks and IVMS101 are not
// included.
func (s *Service) ListVerifications(ctx context.Context, f Filter) ([]VerificationView, string, error) {
	limit := pageLimit(f.Limit)
	keys, ok := verificationSorts[f.Sort]
	if !ok {
		return nil, "", ErrBadSort
	}
	q := `SELECT verification_uuid, status, reason, message, tx_hash, vout, risk_level, screening, version,
	created_at, updated_at FROM travel_rule_verifications WHERE version > 0`
	var args []any
	if f.Status != "" {
		q += " AND status = ?"
		args = append(args, f.Status)
	}
	if f.RiskLevel != "" {
		q += " AND risk_level = ?"
		args = append(args, f.RiskLevel)
	}
	if !f.Since.IsZero() {
		q += " AND updated_at >= ?"
		args = append(args, store.Micros(f.Since))
	}
	if f.Cursor != "" {
		after, err := verificationCursor(f.Sort, f.Cursor)
		if err != nil {
			return nil, "", err
		}
		q += " AND " + keys.After(f.Desc)
		args = append(args, after...)
	}
	q += " ORDER BY " + keys.OrderBy(f.Desc) + " LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("travelrule: list verifications: %w", err)
	}
	defer rows.Close()
	var (
		out     []VerificationView
		hasMore bool
	)
	for rows.Next() {
		if len(out) == limit {
			hasMore = true
			break
		}
		var (
			v                VerificationView
			screening        string
			created, updated int64
		)
		if err := rows.Scan(&v.VerificationUUID, &v.Status, &v.Reason, &v.Message, &v.TxHash, &v.Vout, &v.RiskLevel,
			&screening, &v.Version, &created, &updated); err != nil {
			return nil, "", fmt.Errorf("travelrule: list verifications: %w", err)
		}
		v.Screening = json.RawMessage(screening)
		c, u := store.FromMicros(created), store.FromMicros(updated)
		v.CreatedAt, v.UpdatedAt = &c, &u
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("travelrule: list verifications: %w", err)
	}
	next := ""
	if hasMore {
		last := out[len(out)-1]
		switch f.Sort {
		case SortStatus:
			next = store.Cursor(last.Status, last.VerificationUUID)
		case SortRisk:
			next = store.Cursor(rank(last.RiskLevel), last.VerificationUUID)
		default:
			next = store.Cursor(store.Micros(*last.UpdatedAt), last.VerificationUUID)
		}
	}
	return out, next, nil
}

// ListQuarantine returns quarantined callbacks, oldest first, and the next page's cursor.
func (s *Service) ListQuarantine(ctx context.Context, cursor string, limit int) ([]StoredCallback, string, error) {
	limit = pageLimit(limit)
	q := "SELECT " + callbackCols + " FROM travel_rule_inbox WHERE state = ?"
	args := []any{stateQuarantined}
	if cursor != "" {
		var at int64
		var id string
		if err := store.ParseCursor(cursor, &at, &id); err != nil {
			return nil, "", err
		}
		q += " AND (received_at > ? OR (received_at = ? AND id > ?))"
		args = append(args, at, at, id)
	}
	q += " ORDER BY received_at, id LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("travelrule: list quarantine: %w", err)
	}
	defer rows.Close()
	var out []StoredCallback
	hasMore := false
	for rows.Next() {
		if len(out) == limit {
			hasMore = true
			break
		}
		c, err := scanCallback(rows)
		if err != nil {
			return nil, "", fmt.Errorf("travelrule: list quarantine: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("travelrule: list quarantine: %w", err)
	}
	next := ""
	if hasMore {
		last := out[len(out)-1]
		next = store.Cursor(store.Micros(last.ReceivedAt), last.ID)
	}
	return out, next, nil
}

// StillQuarantinedError says why a re-processed callback stays in the quarantine.
type StillQuarantinedError struct{ Problem Problem }

func (e *StillQuarantinedError) Error() string {
	return "travelrule: callback still cannot be processed: " + string(e.Problem)
}

// Reprocess decodes a quarantined callback again with the current decoder. When it is now
// processable it leaves the quarantine and its verification is re-derived in a job; when not,
// it stays and a *StillQuarantinedError says why.
func (s *Service) Reprocess(ctx context.Context, id string) (Decoded, error) {
	var d Decoded
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var (
			sealed    []byte
			truncated bool
		)
		err := tx.QueryRowContext(ctx, "SELECT body, truncated FROM travel_rule_inbox WHERE id = ? AND state = ?",
			id, stateQuarantined).Scan(&sealed, &truncated)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("travelrule: reprocess: %w", err)
		}
		if sealed == nil {
			return &StillQuarantinedError{Problem: "redacted"}
		}
		body, err := s.open(sealed, bodyAD(id))
		if err != nil {
			return err
		}
		d = decodeRecord(Record{Body: body, Truncated: truncated})
		if d.Problem != ProblemNone {
			return &StillQuarantinedError{Problem: d.Problem}
		}
		// The row keeps its natural key and revision (a hash key, unique by construction);
		// Fold reads the callback's real key from the body.
		if _, err := tx.ExecContext(ctx, `UPDATE travel_rule_inbox SET state = ?, problem = '', callback_type = ?,
		verification_uuid = ? WHERE id = ?`, statePending, d.Type, d.VerificationUUID, id); err != nil {
			return fmt.Errorf("travelrule: reprocess: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO travel_rule_pending (verification_uuid, id, received_at)
		SELECT verification_uuid, id, received_at FROM travel_rule_inbox WHERE id = ? ON CONFLICT DO NOTHING`, id); err != nil {
			return fmt.Errorf("travelrule: reprocess: %w", err)
		}
		return s.enqueueProcess(ctx, tx, []string{d.VerificationUUID})
	})
	return d, err
}

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 500:
		return 500
	}
	return n
}

// verificationCursor reads a ListVerifications cursor of the sort into its keyset values.
func verificationCursor(sort, c string) ([]any, error) {
	var id string
	switch sort {
	case SortStatus:
		var st string
		err := store.ParseCursor(c, &st, &id)
		return []any{st, id}, err
	case SortRisk:
		var r int
		err := store.ParseCursor(c, &r, &id)
		return []any{r, id}, err
	}
	var at int64
	err := store.ParseCursor(c, &at, &id)
	return []any{at, id}, err
}
