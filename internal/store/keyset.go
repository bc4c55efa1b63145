package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// ErrBadCursor is returned for a page cursor that no list made (edited or truncated).
var ErrBadCursor = errors.New("store: invalid page cursor")

// Keyset is the order of a list read a page at a time: its sort columns, most significant
// first, ending in the columns that make a row unique, all in one direction. A page
// continues after the previous page's last row with a row-value comparison, which both
// engines answer by walking an index on exactly these columns (in either direction), so
// a page costs the same at any depth. Columns may be expressions, when an index on the
// same expression exists.
type Keyset []string

// After is the condition "the row comes after the cursor's row" in this order; it takes
// one argument per column, the values read from the cursor.
func (k Keyset) After(desc bool) string {
	op := " > "
	if desc {
		op = " < "
	}
	return "(" + strings.Join(k, ", ") + ")" + op + "(" + strings.TrimSuffix(strings.Repeat("?, ", len(k)), ", ") + ")"
}

// OrderBy is the ORDER BY list of this order (without the keywords).
func (k Keyset) OrderBy(desc bool) string {
	dir := ""
	if desc {
		dir = " DESC"
	}
	return strings.Join(k, dir+", ") + dir
}

// Cursor encodes a page's last row's values of the keyset's columns, for a "next page"
// link (URL-safe).
func Cursor(vals ...any) string {
	b, err := json.Marshal(vals)
	if err != nil {
		// Only strings and numbers are passed; they always encode.
		panic("store: cursor: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a Cursor into dst (pointers to the columns' Go types, in order),
// or returns ErrBadCursor.
func ParseCursor(c string, dst ...any) error {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return ErrBadCursor
	}
	var vals []json.RawMessage
	if json.Unmarshal(b, &vals) != nil || len(vals) != len(dst) {
		return ErrBadCursor
	}
	for i, v := range vals {
		if json.Unmarshal(v, dst[i]) != nil {
			return ErrBadCursor
		}
	}
	return nil
}
