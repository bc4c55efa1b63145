package kyc

import (
	"context"
	"fmt"
)

// listKnown is List for the business back end: the customers live at the business server,
// so what can be listed is the customers vaspgate knows of — every id whose owner it
// recorded (kyc_customers) — with the last status recorded for each type (kyc_snapshots;
// empty while none was). Their fields stay at the business server: a customer's page asks
// it (Fetch).
func (s *Service) listKnown(ctx context.Context, q ListQuery) ([]Summary, error) {
	owner, args := "", []any{q.Status, q.Status, q.Type, q.Type, q.After, q.After, q.AfterType}
	if q.Account != "" {
		owner, args = " AND c.account = ? AND (? = '' OR c.memo = ?)", append(args, q.Account, q.Memo, q.Memo)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, COALESCE(s.type, ''), COALESCE(s.status, ''), c.account, c.memo,
		COALESCE(s.updated_at, c.updated_at)
		FROM kyc_customers c LEFT JOIN kyc_snapshots s ON s.customer_id = c.id
		WHERE (? = '' OR s.status = ?) AND (? = '' OR s.type = ?)
			AND (c.id > ? OR (c.id = ? AND COALESCE(s.type, '') > ?))`+owner+`
		ORDER BY c.id, COALESCE(s.type, '') LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("kyc: list known customers: %w", err)
	}
	out, err := scanSummaries(rows)
	if err != nil {
		return nil, fmt.Errorf("kyc: list known customers: %w", err)
	}
	return out, nil
}
