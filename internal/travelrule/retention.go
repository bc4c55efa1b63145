package travelrule

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// RedactExpired removes the IVMS101 payload from every callback received more than
// RetentionDays before now (the rest of each body stays, so the verification keeps its
// status, reason and evidence), drops the kept bytes of quarantined callbacks of that age
// (they may hold personal data nobody could parse), and re-derives the affected
// verifications, whose stored IVMS101 thereby goes too. It returns the callbacks redacted.
func (s *Service) RedactExpired(ctx context.Context, now time.Time) (int, error) {
	cutoff := store.Micros(now.Add(-time.Duration(s.opts.RetentionDays) * 24 * time.Hour))
	// Receipts only guard spool replays, which happen within minutes.
	if _, err := s.db.ExecContext(ctx, "DELETE FROM travel_rule_receipts WHERE received_at < ?",
		store.Micros(now.Add(-30*24*time.Hour))); err != nil {
		return 0, fmt.Errorf("travelrule: retention: prune receipts: %w", err)
	}
	total := 0
	for {
		n, err := s.redactBatch(ctx, cutoff, store.Micros(now))
		total += n
		if err != nil {
			return total, fmt.Errorf("travelrule: retention: %w", err)
		}
		if n < 200 {
			return total, nil
		}
	}
}

func (s *Service) redactBatch(ctx context.Context, cutoff, now int64) (int, error) {
	n := 0
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		res, err := tx.ExecContext(ctx, `UPDATE travel_rule_inbox SET body = NULL, redacted_at = ?
		WHERE state = ? AND redacted_at IS NULL AND received_at < ?`, now, stateQuarantined, cutoff)
		if err != nil {
			return err
		}
		q, _ := res.RowsAffected()
		rows, err := tx.QueryContext(ctx, `SELECT id, verification_uuid, body FROM travel_rule_inbox
		WHERE callback_type = ? AND state <> ? AND redacted_at IS NULL AND received_at < ?
		ORDER BY received_at LIMIT 200`, TypeVerificationResult, stateQuarantined, cutoff)
		if err != nil {
			return err
		}
		type item struct {
			id, uuid string
			body     []byte
		}
		var items []item
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.id, &it.uuid, &it.body); err != nil {
				rows.Close()
				return err
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var uuids []string
		for _, it := range items {
			plain, err := s.open(it.body, bodyAD(it.id))
			if err != nil {
				return err
			}
			stripped, err := s.seal(stripIVMS101(plain), bodyAD(it.id))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE travel_rule_inbox SET body = ?, redacted_at = ? WHERE id = ?",
				stripped, now, it.id); err != nil {
				return err
			}
			uuids = append(uuids, it.uuid)
		}
		slices.Sort(uuids)
		if err := s.foldChunk(ctx, tx, slices.Compact(uuids)); err != nil {
			return err
		}
		n = len(items) + int(q)
		return nil
	})
	return n, err
}
