package travelrule

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// ErrNotFound is returned for an unknown verification or quarantined callback.
var ErrNotFound = errors.New("travelrule: not found")

// ErrBadCursor is returned for a cursor this package did not make.
var ErrBadCursor = errors.New("travelrule: invalid cursor")

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

const callbackCols = `id, callback_type, natural_key, revision, state, problem, content_sha256, body_size,
truncated, duplicates, received_at, last_seen_at, redacted_at`

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
	// Cursor continues a previous page; Limit caps the page (default 50, at most 500).
	Cursor string
	Limit  int
}

// ListVerifications returns verifications in update order (oldest first) and the cursor of
// the next page ("" at the end). Callbacks and IVMS101 are not included.
func (s *Service) ListVerifications(ctx context.Context, f Filter) ([]VerificationView, string, error) {
	limit := pageLimit(f.Limit)
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
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		q += " AND (updated_at > ? OR (updated_at = ? AND verification_uuid > ?))"
		args = append(args, at, at, id)
	}
	q += " ORDER BY updated_at, verification_uuid LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("travelrule: list verifications: %w", err)
	}
	defer rows.Close()
	var (
		out     []VerificationView
		lastAt  int64
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
		lastAt = updated
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("travelrule: list verifications: %w", err)
	}
	next := ""
	if hasMore {
		next = encodeCursor(lastAt, out[len(out)-1].VerificationUUID)
	}
	return out, next, nil
}

// ListQuarantine returns quarantined callbacks, oldest first, and the next page's cursor.
func (s *Service) ListQuarantine(ctx context.Context, cursor string, limit int) ([]StoredCallback, string, error) {
	limit = pageLimit(limit)
	q := "SELECT " + callbackCols + " FROM travel_rule_inbox WHERE state = ?"
	args := []any{stateQuarantined}
	if cursor != "" {
		at, id, err := decodeCursor(cursor)
		if err != nil {
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
		next = encodeCursor(store.Micros(last.ReceivedAt), last.ID)
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

func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + "|" + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	at, id, ok := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil {
		return 0, "", ErrBadCursor
	}
	return n, id, nil
}
