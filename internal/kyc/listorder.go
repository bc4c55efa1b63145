package kyc

import (
	"github.com/vaspgate/vaspgate/internal/store"
)

// The orders List can sort in (ListQuery.Sort). Each walks an index ending in (customer id,
// type), the list's rows, so a page costs the same at any depth (migration 00075).
const (
	SortCreated = ""
	SortStatus  = "status"
	SortUpdated = "updated"
)

// listPage is the part of a list statement that orders it and continues after a cursor,
// over the named columns (id and type of the row, and its status and update time).
type listPage struct {
	keys store.Keyset
	// cond continues after the cursor ("" on a first page), with its args.
	cond string
	args []any
}

// pageOf reads q's order and cursor. After/AfterType (the admin API's ascending creation
// order) are used when no Cursor is given.
func pageOf(q ListQuery, id, typ, status, updated string) (listPage, error) {
	var p listPage
	switch q.Sort {
	case SortCreated:
		p.keys = store.Keyset{id, typ}
	case SortStatus:
		p.keys = store.Keyset{status, id, typ}
	case SortUpdated:
		p.keys = store.Keyset{updated, id, typ}
	default:
		return p, badRequest("sort must be status or updated (or nothing: by creation)")
	}
	switch {
	case q.Cursor != "":
		var cid, ctyp string
		switch q.Sort {
		case SortCreated:
			if err := store.ParseCursor(q.Cursor, &cid, &ctyp); err != nil {
				return p, badRequest("cursor is not one a customer list made")
			}
			p.args = []any{cid, ctyp}
		case SortStatus:
			var st string
			if err := store.ParseCursor(q.Cursor, &st, &cid, &ctyp); err != nil {
				return p, badRequest("cursor is not one a customer list made")
			}
			p.args = []any{st, cid, ctyp}
		case SortUpdated:
			var at int64
			if err := store.ParseCursor(q.Cursor, &at, &cid, &ctyp); err != nil {
				return p, badRequest("cursor is not one a customer list made")
			}
			p.args = []any{at, cid, ctyp}
		}
		p.cond = " AND " + p.keys.After(q.Desc)
	case q.After != "" && q.Sort == SortCreated && !q.Desc:
		p.cond, p.args = " AND "+p.keys.After(false), []any{q.After, q.AfterType}
	}
	return p, nil
}

// NextCursor is the Cursor continuing a list of q's order after its last entry s.
func NextCursor(q ListQuery, s Summary) string {
	switch q.Sort {
	case SortStatus:
		return store.Cursor(s.Status, s.ID, s.Type)
	case SortUpdated:
		return store.Cursor(store.Micros(s.UpdatedAt), s.ID, s.Type)
	}
	return store.Cursor(s.ID, s.Type)
}
