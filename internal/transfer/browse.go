package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vaspgate/vaspgate/internal/store"
)

// BrowseFilter selects transactions of every owner for operators; zero values match all.
type BrowseFilter struct {
	Status Status
	// Account (with Memo, when set) keeps one owner's transactions.
	Account, Memo string
	// Sort is the order: BrowseCreated (the default), BrowseStatus or BrowseUpdated,
	// newest (or last) first; Oldest reverses it.
	Sort   string
	Oldest bool
	// Before keeps the transactions whose id sorts below it (UUIDv7: created before the
	// time it stands for), in any order.
	Before string
	// Cursor continues a page: the next cursor Browse returned.
	Cursor string
	// Limit caps the page; 0 means 50, at most 500.
	Limit int
}

// The orders Browse lists in, each on its own (column, id) index.
const (
	BrowseCreated = ""
	BrowseStatus  = "status"
	BrowseUpdated = "updated"
)

var browseSorts = map[string]store.Keyset{
	BrowseCreated: {"id"},
	BrowseStatus:  {"status", "id"},
	BrowseUpdated: {"updated_at", "id"},
}

// ErrBadSort is returned for a BrowseFilter.Sort Browse does not know.
var ErrBadSort = errors.New("transfer: transactions sort by created, status or updated")

// Browse returns transactions in f's order, a keyset page at a time, for the operator
// console, with the cursor of the next page ("" after the last). Every filter and order is
// on an indexed column, so a page costs the same at any depth. A cursor Browse did not
// make is store.ErrBadCursor.
func (s *Service) Browse(ctx context.Context, f BrowseFilter) ([]Transaction, string, error) {
	keys, ok := browseSorts[f.Sort]
	if !ok {
		return nil, "", ErrBadSort
	}
	q := "SELECT " + columns + " FROM transfer_transactions WHERE 1 = 1"
	var args []any
	if f.Status != "" {
		q += " AND status = ?"
		args = append(args, string(f.Status))
	}
	if f.Account != "" {
		q += " AND owner_account = ?"
		args = append(args, f.Account)
		if f.Memo != "" {
			q += " AND owner_memo = ?"
			args = append(args, f.Memo)
		}
	}
	if f.Before != "" {
		q += " AND id < ?"
		args = append(args, f.Before)
	}
	if f.Cursor != "" {
		var after []any
		switch f.Sort {
		case BrowseStatus:
			var st, id string
			if err := store.ParseCursor(f.Cursor, &st, &id); err != nil {
				return nil, "", err
			}
			after = []any{st, id}
		case BrowseUpdated:
			var at int64
			var id string
			if err := store.ParseCursor(f.Cursor, &at, &id); err != nil {
				return nil, "", err
			}
			after = []any{at, id}
		default:
			after = []any{f.Cursor}
		}
		q += " AND " + keys.After(!f.Oldest)
		args = append(args, after...)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	q += fmt.Sprintf(" ORDER BY %s LIMIT %d", keys.OrderBy(!f.Oldest), limit+1)
	list, err := s.query(ctx, s.db, q, args...)
	if err != nil || len(list) <= limit {
		return list, "", err
	}
	list = list[:limit]
	last := list[limit-1]
	switch f.Sort {
	case BrowseStatus:
		return list, store.Cursor(string(last.Status), last.ID), nil
	case BrowseUpdated:
		return list, store.Cursor(store.Micros(last.UpdatedAt), last.ID), nil
	}
	return list, last.ID, nil
}

// Statuses lists every SEP-6 status, in lifecycle order (for filters).
func Statuses() []Status { return slices.Clone(allStatuses) }
