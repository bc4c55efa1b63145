package console

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Audit actions.
const (
	ActionDecide          = "customer.decide"
	ActionRevealField     = "customer.reveal_field"
	ActionReplay          = "delivery.replay"
	ActionReplayEndpoint  = "endpoint.replay_since"
	ActionEnableEndpoint  = "endpoint.enable"
	ActionDisableEndpoint = "endpoint.disable"
	ActionReprocess       = "travel_rule.reprocess"
	ActionRevealIVMS      = "travel_rule.reveal_ivms101"
	ActionSignIn          = "console.signin"
)

// Entry is one audit log row: who did what to which target, and the state before and
// after. Personal data never goes in an entry (a reveal records the field's name).
type Entry struct {
	ID       int64
	At       time.Time
	Operator string
	Role     string
	Action   string
	Target   string
	Before   string
	After    string
	Reason   string
}

func insertAudit(ctx context.Context, q store.Querier, e Entry) error {
	_, err := q.ExecContext(ctx, `INSERT INTO console_audit (at, operator, role, action, target, before, after, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, store.Micros(e.At), e.Operator, e.Role, e.Action, e.Target, e.Before, e.After, e.Reason)
	if err != nil {
		return fmt.Errorf("console: write audit log: %w", err)
	}
	return nil
}

// act runs an operator action through its owning service with the audit row written in
// the service's own transaction (a store commit hook): the action and its row commit
// together or not at all. An action that succeeds without committing a transaction (none
// today) still gets its row, written on its own.
func (c *Console) act(ctx context.Context, s *Session, e Entry, do func(ctx context.Context) error) error {
	e.At, e.Operator, e.Role = c.opts.Now(), s.Operator, s.Role
	// The operator is the actor of every change the action makes (transaction history).
	ctx = actor.With(ctx, actor.Actor{Kind: actor.Operator, Name: s.Operator})
	hooked, committed := store.WithCommitHook(ctx, func(ctx context.Context, tx *store.Tx) error {
		return insertAudit(ctx, tx, e)
	})
	if err := do(hooked); err != nil {
		return err
	}
	if !committed() {
		return insertAudit(ctx, c.opts.DB, e)
	}
	return nil
}

// AuditFilter selects audit rows; Before is the id of the last row of the previous page.
type AuditFilter struct {
	Operator string
	Target   string
	Before   int64
	Limit    int
	// Oldest lists oldest first; the cursor (still Before, the last id of the previous
	// page) then continues after it.
	Oldest bool
}

// Audit returns audit rows newest first (oldest first with f.Oldest) and the cursor of the next page (0 at the end).
func (c *Console) Audit(ctx context.Context, f AuditFilter) ([]Entry, int64, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	q := `SELECT id, at, operator, role, action, target, before, after, reason FROM console_audit WHERE 1 = 1`
	var args []any
	if f.Operator != "" {
		q += " AND operator = ?"
		args = append(args, f.Operator)
	}
	if f.Target != "" {
		q += " AND target = ?"
		args = append(args, f.Target)
	}
	order := " ORDER BY id DESC LIMIT "
	if f.Oldest {
		order = " ORDER BY id LIMIT "
	}
	if f.Before > 0 && f.Oldest {
		q += " AND id > ?"
		args = append(args, f.Before)
	} else if f.Before > 0 {
		q += " AND id < ?"
		args = append(args, f.Before)
	}
	q += order + strconv.Itoa(f.Limit+1)
	rows, err := c.opts.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("console: read audit log: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Operator, &e.Role, &e.Action, &e.Target, &e.Before, &e.After, &e.Reason); err != nil {
			return nil, 0, fmt.Errorf("console: read audit log: %w", err)
		}
		e.At = store.FromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("console: read audit log: %w", err)
	}
	var next int64
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}
