package kyc

import (
	"context"
	"fmt"
)

// listKnown is List for the business back end: the customers live at the business server,
// so what can be listed is the customers vaspgate knows of — every id whose owner it
// recorded (kyc_customers) — with the last status recorded for each type (kyc_snapshots;
// empty while none was). Their fields stay at the business server: a customer's page asks
// it (Fetch). List has checked q.Sort: creation order only (business.sorts).
func (s *Service) listKnown(ctx context.Context, q ListQuery) ([]Summary, error) {
	page, err := pageOf(q, "c.id", "COALESCE(s.type, '')", "", "")
	if err != nil {
		return nil, err
	}
	var where string
	var args []any
	if q.Status != "" {
		where, args = where+" AND s.status = ?", append(args, q.Status)
	}
	if q.Type != "" {
		where, args = where+" AND s.type = ?", append(args, q.Type)
	}
	if q.Account != "" {
		where, args = where+" AND c.account = ?", append(args, q.Account)
		if q.Memo != "" {
			where, args = where+" AND c.memo = ?", append(args, q.Memo)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, COALESCE(s.type, ''), COALESCE(s.status, ''), c.account, c.memo,
		COALESCE(s.updated_at, c.updated_at)
		FROM kyc_customers c LEFT JOIN kyc_snapshots s ON s.customer_id = c.id
		WHERE 1 = 1`+where+page.cond+`
		ORDER BY `+page.keys.OrderBy(q.Desc)+` LIMIT ?`, append(append(args, page.args...), q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("kyc: list known customers: %w", err)
	}
	out, err := scanSummaries(rows)
	if err != nil {
		return nil, fmt.Errorf("kyc: list known customers: %w", err)
	}
	return out, nil
}
