package travelrule

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Directions of a recorded call.
const (
	// FromEnclave: the enclave called vaspgate (vaspgate answers).
	FromEnclave = "from_enclave"
	// ToEnclave: vaspgate called the enclave.
	ToEnclave = "to_enclave"
)

// APIs of recorded calls.
const (
	APIVerifyUserAccount = "verify_user_account"
	APIVerifyUser        = "verify_user"
	APITransactionStatus = "transaction_status"
	APIRequest           = "request_verification"
	APIReportTx          = "report_transaction"
	APIReportError       = "report_error"
	APIGetResult         = "get_verification_result"
	APITxInquiry         = "transaction_status_inquiry"
)

// Call is one recorded call between vaspgate and the enclave. Request and Response are the
// bodies (personal data: sealed at rest).
type Call struct {
	ID               string    `json:"id"`
	Direction        string    `json:"direction"`
	API              string    `json:"api"`
	VerificationUUID string    `json:"verification_uuid,omitempty"`
	TransactionID    string    `json:"transaction_id,omitempty"`
	HTTPStatus       int       `json:"http_status"`
	Result           string    `json:"result,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	TimedOut         bool      `json:"timed_out"`
	Error            string    `json:"error,omitempty"`
	Elapsed          float64   `json:"elapsed_seconds"`
	CreatedAt        time.Time `json:"created_at"`
	// Request and Response are the bodies; shown as JSON, or as a JSON string when they are
	// not JSON (a malformed request).
	Request  json.RawMessage `json:"request,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
}

func asJSON(b []byte) json.RawMessage {
	if len(b) == 0 || json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

func callAD(id, part string) []byte { return []byte("travel_rule_calls." + part + " " + id) }

// recordCall stores c (its id and time set here) through q.
func (s *Service) recordCall(ctx context.Context, q store.Querier, c *Call) error {
	if c.ID == "" {
		c.ID = uuid.Must(uuid.NewV7()).String()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now().UTC()
	}
	req, err := s.seal(c.Request, callAD(c.ID, "request"))
	if err != nil {
		return err
	}
	resp, err := s.seal(c.Response, callAD(c.ID, "response"))
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO travel_rule_calls (id, direction, api, verification_uuid, transaction_id,
	request, response, http_status, result, reason, timed_out, error, elapsed_us, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Direction, c.API, storable(c.VerificationUUID, maxUUIDLen), c.TransactionID, req, resp, c.HTTPStatus,
		storable(c.Result, 100), storable(c.Reason, 200), c.TimedOut, storable(c.Error, 1000),
		int64(c.Elapsed*1e6), store.Micros(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("travelrule: record call: %w", err)
	}
	return nil
}

// Calls returns the calls recorded about a verification, oldest first, bodies opened.
func (s *Service) Calls(ctx context.Context, verificationUUID string) ([]Call, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, direction, api, verification_uuid, transaction_id, request, response,
	http_status, result, reason, timed_out, error, elapsed_us, created_at FROM travel_rule_calls
	WHERE verification_uuid = ? ORDER BY created_at, id`, verificationUUID)
	if err != nil {
		return nil, fmt.Errorf("travelrule: read calls: %w", err)
	}
	defer rows.Close()
	var out []Call
	for rows.Next() {
		var (
			c             Call
			req, resp     []byte
			elapsed, at   int64
			timedOut      sql.NullBool
			transactionID string
		)
		if err := rows.Scan(&c.ID, &c.Direction, &c.API, &c.VerificationUUID, &transactionID, &req, &resp, &c.HTTPStatus,
			&c.Result, &c.Reason, &timedOut, &c.Error, &elapsed, &at); err != nil {
			return nil, fmt.Errorf("travelrule: read calls: %w", err)
		}
		c.TransactionID, c.TimedOut = transactionID, timedOut.Bool
		c.Elapsed, c.CreatedAt = float64(elapsed)/1e6, store.FromMicros(at)
		if req, err = s.open(req, callAD(c.ID, "request")); err != nil {
			return nil, err
		}
		if resp, err = s.open(resp, callAD(c.ID, "response")); err != nil {
			return nil, err
		}
		c.Request, c.Response = asJSON(req), asJSON(resp)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Link is one transaction a verification is about.
type Link struct {
	TransactionID string `json:"transaction_id"`
	// Role is RoleOriginator (vaspgate sends) or RoleBeneficiary (vaspgate receives).
	Role string `json:"role"`
}

// Link roles.
const (
	RoleOriginator  = "originator"
	RoleBeneficiary = "beneficiary"
)

// LinkTx records that verification uuid is about transaction id, in the caller's transaction
// (a repeat is a no-op).
func LinkTx(ctx context.Context, q store.Querier, verificationUUID, transactionID, role string) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO travel_rule_links (verification_uuid, transaction_id, role, created_at)
	VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, verificationUUID, transactionID, role, store.Micros(time.Now())); err != nil {
		return fmt.Errorf("travelrule: link verification: %w", err)
	}
	return nil
}

func links(ctx context.Context, q store.Querier, col, val string) ([]Link, []string, error) {
	rows, err := q.QueryContext(ctx, `SELECT verification_uuid, transaction_id, role FROM travel_rule_links WHERE `+col+
		` = ? ORDER BY created_at, verification_uuid, transaction_id`, val)
	if err != nil {
		return nil, nil, fmt.Errorf("travelrule: read links: %w", err)
	}
	defer rows.Close()
	var (
		out   []Link
		uuids []string
	)
	for rows.Next() {
		var l Link
		var u string
		if err := rows.Scan(&u, &l.TransactionID, &l.Role); err != nil {
			return nil, nil, fmt.Errorf("travelrule: read links: %w", err)
		}
		out, uuids = append(out, l), append(uuids, u)
	}
	return out, uuids, rows.Err()
}

// Links returns the transactions a verification is about.
func (s *Service) Links(ctx context.Context, verificationUUID string) ([]Link, error) {
	l, _, err := links(ctx, s.db, "verification_uuid", verificationUUID)
	return l, err
}

// TransactionVerifications returns the verifications linked to a transaction, oldest first.
func (s *Service) TransactionVerifications(ctx context.Context, transactionID string) ([]string, error) {
	_, u, err := links(ctx, s.db, "transaction_id", transactionID)
	return u, err
}
