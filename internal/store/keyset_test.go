package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

func TestKeysetSQL(t *testing.T) {
	t.Parallel()
	k := store.Keyset{"status", "id"}
	for _, tc := range []struct {
		desc         bool
		after, order string
	}{
		{false, "(status, id) > (?, ?)", "status, id"},
		{true, "(status, id) < (?, ?)", "status DESC, id DESC"},
	} {
		if got := k.After(tc.desc); got != tc.after {
			t.Errorf("After(%v) = %q, want %q", tc.desc, got, tc.after)
		}
		if got := k.OrderBy(tc.desc); got != tc.order {
			t.Errorf("OrderBy(%v) = %q, want %q", tc.desc, got, tc.order)
		}
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()
	var (
		status string
		at     int64
		id     string
	)
	if err := store.ParseCursor(store.Cursor("failed", int64(1764400000000000), "0193-x"), &status, &at, &id); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || at != 1764400000000000 || id != "0193-x" {
		t.Fatalf("round trip = %q %d %q", status, at, id)
	}
	for _, bad := range []string{"", "not base64!", store.Cursor("only one"), store.Cursor("x", "y", "z", "w"), store.Cursor(1, 2, 3)} {
		if err := store.ParseCursor(bad, &status, &at, &id); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ParseCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
}

// TestKeysetPages: walking a table a page at a time in a keyset order, on both engines,
// visits every row once, in the order one ORDER BY gives, in either direction.
func TestKeysetPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE ks (id TEXT PRIMARY KEY, status TEXT NOT NULL, n BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `CREATE INDEX ks_status ON ks (status, id)`); err != nil {
			t.Fatal(err)
		}
		for i := range 23 {
			if _, err := db.ExecContext(ctx, `INSERT INTO ks (id, status, n) VALUES (?, ?, ?)`,
				fmt.Sprintf("id-%02d", i), []string{"delivered", "failed", "queued"}[i%3], i%4); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range []store.Keyset{{"status", "id"}, {"n", "id"}} {
			for _, desc := range []bool{false, true} {
				all := ids(t, db, `SELECT id FROM ks ORDER BY `+k.OrderBy(desc))
				var walked []string
				var cursor []any
				for {
					q, args := `SELECT id, `+k[0]+` FROM ks`, []any{}
					if cursor != nil {
						q, args = q+` WHERE `+k.After(desc), cursor
					}
					rows, err := db.QueryContext(ctx, q+` ORDER BY `+k.OrderBy(desc)+` LIMIT 5`, args...)
					if err != nil {
						t.Fatal(err)
					}
					var page int
					for rows.Next() {
						var id string
						var key any
						if err := rows.Scan(&id, &key); err != nil {
							t.Fatal(err)
						}
						walked, cursor, page = append(walked, id), []any{key, id}, page+1
					}
					rows.Close()
					if page < 5 {
						break
					}
				}
				if !slices.Equal(walked, all) || len(all) != 23 {
					t.Errorf("%v desc=%v: pages walked %v, want %v", k, desc, walked, all)
				}
			}
		}
	})
}

func ids(t *testing.T, db *store.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}
