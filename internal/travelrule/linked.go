package travelrule

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Linked is a verification as a transaction it is linked to shows it.
type Linked struct {
	VerificationUUID string
	Role             string
	// Status is PENDING until the verification has a record.
	Status    Status
	Reason    string
	RiskLevel RiskLevel
	TxHash    string
	// Hold is "held" while the verification's risk holds the transaction, "released" once
	// released, "" when it never held it.
	Hold string
}

// Linked returns, per transaction id, the verifications linked to it, oldest first: what the
// business sees on the transaction object. Ids without a verification are absent.
func (s *Service) Linked(ctx context.Context, transactionIDs []string) (map[string][]Linked, error) {
	out := map[string][]Linked{}
	if len(transactionIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(transactionIDs))
	for i, id := range transactionIDs {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT l.transaction_id, l.verification_uuid, l.role, v.status, v.reason,
	v.risk_level, v.tx_hash, h.released_at, h.held_at
	FROM travel_rule_links l
	LEFT JOIN travel_rule_verifications v ON v.verification_uuid = l.verification_uuid
	LEFT JOIN travel_rule_holds h ON h.transaction_id = l.transaction_id AND h.verification_uuid = l.verification_uuid
	WHERE l.transaction_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")+`)
	ORDER BY l.transaction_id, l.created_at, l.verification_uuid`, args...)
	if err != nil {
		return nil, fmt.Errorf("travelrule: read linked verifications: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			txID                      string
			l                         Linked
			status, reason, risk, hsh sql.NullString
			released, held            sql.NullInt64
		)
		if err := rows.Scan(&txID, &l.VerificationUUID, &l.Role, &status, &reason, &risk, &hsh, &released, &held); err != nil {
			return nil, fmt.Errorf("travelrule: read linked verifications: %w", err)
		}
		l.Status, l.Reason, l.RiskLevel, l.TxHash = StatusPending, reason.String, RiskLevel(risk.String), hsh.String
		if status.Valid && status.String != "" {
			l.Status = Status(status.String)
		}
		switch {
		case released.Valid:
			l.Hold = "released"
		case held.Valid:
			l.Hold = "held"
		}
		out[txID] = append(out[txID], l)
	}
	return out, rows.Err()
}
