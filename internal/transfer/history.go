package transfer

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/store"
)

// StatusChange is one status a transaction took and who caused it.
type StatusChange struct {
	// Version is the transaction's version after the change.
	Version int64
	At      time.Time
	// From is empty for the status the transaction was created with.
	From, To Status
	Actor    actor.Actor
}

// recordStatus writes a status change, in the change's database transaction, with the
// actor ctx carries (the system when none).
func recordStatus(ctx context.Context, tx *store.Tx, t *Transaction, from Status, at time.Time) error {
	a := actor.From(ctx)
	if _, err := tx.ExecContext(ctx, `INSERT INTO transfer_status_changes (transaction_id, version, at, from_status,
		to_status, actor_kind, actor_name) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Version, store.Micros(at), string(from), string(t.Status), string(a.Kind), a.Name); err != nil {
		return fmt.Errorf("transfer: record status change of %s: %w", t.ID, err)
	}
	return nil
}

// History returns the status changes of transaction id, oldest first. A transaction
// imported from another system has none (its history happened there).
func (s *Service) History(ctx context.Context, id string) ([]StatusChange, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version, at, from_status, to_status, actor_kind, actor_name
		FROM transfer_status_changes WHERE transaction_id = ? ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("transfer: history of %s: %w", id, err)
	}
	defer rows.Close()
	var out []StatusChange
	for rows.Next() {
		var c StatusChange
		var at int64
		var from, to, kind string
		if err := rows.Scan(&c.Version, &at, &from, &to, &kind, &c.Actor.Name); err != nil {
			return nil, fmt.Errorf("transfer: history of %s: %w", id, err)
		}
		c.At, c.From, c.To, c.Actor.Kind = store.FromMicros(at), Status(from), Status(to), actor.Kind(kind)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("transfer: history of %s: %w", id, err)
	}
	return out, nil
}
