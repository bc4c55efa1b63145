package transfer

import (
	"context"
	"fmt"
	"slices"
)

// BrowseFilter selects transactions of every owner for operators; zero values match all.
type BrowseFilter struct {
	Status Status
	// Account (with Memo, when set) keeps one owner's transactions.
	Account, Memo string
	// Before continues a page: only transactions older than this id (UUIDv7, so creation
	// order).
	Before string
	// Oldest lists oldest first; After then continues a page (transactions newer than this
	// id) and Before is not used.
	Oldest bool
	After  string
	// Limit caps the page; 0 means 50, at most 500.
	Limit int
}

// Browse returns transactions newest first, a keyset page at a time, for the operator
// console. Every filter is on an indexed column, so a page costs the same at any depth.
func (s *Service) Browse(ctx context.Context, f BrowseFilter) ([]Transaction, error) {
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
	order := "DESC"
	switch {
	case f.Oldest:
		order = "ASC"
		if f.After != "" {
			q += " AND id > ?"
			args = append(args, f.After)
		}
	case f.Before != "":
		q += " AND id < ?"
		args = append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q += fmt.Sprintf(" ORDER BY id %s LIMIT %d", order, min(limit, 500))
	return s.query(ctx, s.db, q, args...)
}

// Statuses lists every SEP-6 status, in lifecycle order (for filters).
func Statuses() []Status { return slices.Clone(allStatuses) }
