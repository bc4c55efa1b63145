// Package storetest gives tests a fresh, migrated database on every engine vaspgate
// supports, so one test body checks SQLite and PostgreSQL alike.
package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/vaspgate/vaspgate/internal/store"
)

// DefaultPostgresURL is used when VASPGATE_TEST_POSTGRES_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the server the tests use.
func PostgresURL() string {
	if u := os.Getenv("VASPGATE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Each runs fn once per engine as a subtest ("sqlite", "postgres"), each with a fresh,
// migrated database that is removed when the subtest ends. A PostgreSQL that cannot be
// reached fails the test: it never skips.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			fn(t, New(t, d))
		})
	}
}

// New returns a fresh, migrated database of the given engine, closed and removed at the
// end of the test.
func New(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), URL(t, d))
	if err != nil {
		t.Fatalf("storetest: open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("storetest: migrate %s: %v", d, err)
	}
	return db
}

// URL returns the URL of a fresh, empty database of the given engine (not migrated), for
// tests that start a real vaspgate process against it. It is removed at the end of the test.
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "vaspgate.db")
	}
	return freshSchema(t)
}

func freshSchema(t testing.TB) string {
	t.Helper()
	u, drop, err := store.Scratch(context.Background(), PostgresURL())
	if err != nil {
		t.Fatalf("storetest: PostgreSQL is required for this test and is not usable "+
			"(set VASPGATE_TEST_POSTGRES_URL, or run scripts/test which starts it): %v", err)
	}
	t.Cleanup(drop)
	return u
}

// RefuseInserts makes db refuse every row inserted into table whose column equals value:
// a rule only the database knows (a CHECK constraint on PostgreSQL, a trigger on SQLite), for
// tests of what happens when a write fails inside a transaction. The names are the test's
// own, not user input.
func RefuseInserts(t testing.TB, db *store.DB, table, column, value string) {
	t.Helper()
	name := "refuse_" + table + "_" + column
	q := fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s <> '%s')`, table, name, column, value)
	if db.Dialect() == store.SQLite {
		q = fmt.Sprintf(`CREATE TRIGGER %s BEFORE INSERT ON %s WHEN NEW.%s = '%s'
			BEGIN SELECT RAISE(ABORT, 'refused by %s'); END`, name, table, column, value, name)
	}
	if _, err := db.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("storetest: refuse inserts into %s: %v", table, err)
	}
}
