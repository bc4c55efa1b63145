package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		dialect store.Dialect
		wantErr bool
	}{
		{"sqlite:vaspgate.db", store.SQLite, false},
		{"sqlite:///tmp/x.db", store.SQLite, false},
		{"postgres://u@localhost:5432/db", store.Postgres, false},
		{"postgresql://u@localhost/db", store.Postgres, false},
		{"sqlite:", 0, true},
		{"mysql://x", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		d, _, err := store.ParseURL(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseURL(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if d != tt.dialect {
			t.Errorf("ParseURL(%q) dialect = %v, want %v", tt.in, d, tt.dialect)
		}
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	pg := storetest.New(t, store.Postgres)
	if got, want := pg.Rebind("SELECT a FROM t WHERE b = ? AND c IN (?, ?)"), "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"; got != want {
		t.Errorf("postgres rebind = %q, want %q", got, want)
	}
	lite := storetest.New(t, store.SQLite)
	if got, want := lite.Rebind("SELECT ?"), "SELECT ?"; got != want {
		t.Errorf("sqlite rebind = %q, want %q", got, want)
	}
}

func TestMigrateFromEmptyAndAgain(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			ctx := context.Background()
			db, err := store.Open(ctx, storetest.URL(t, d))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if ok, err := db.Migrated(ctx); err == nil && ok {
				t.Fatal("empty database reported as migrated")
			}
			first, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("first migrate: %v", err)
			}
			if len(first.Applied) == 0 || first.RiverApplied == 0 {
				t.Fatalf("first migrate applied nothing: %+v", first)
			}
			again, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if len(again.Applied) != 0 || again.RiverApplied != 0 {
				t.Fatalf("second migrate applied %+v, want nothing", again)
			}
			ok, err := db.Migrated(ctx)
			if err != nil || !ok {
				t.Fatalf("Migrated() = %v, %v after migrating", ok, err)
			}
		})
	}
}

func TestConcurrentMigratePostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.URL(t, store.Postgres)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			db, err := store.Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			_, err = db.Migrate(ctx)
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent migrate: %v", err)
		}
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value, created_at) VALUES (?, ?, ?)", "rolled", "x", 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx error = %v, want boom", err)
		}
		if _, ok, _ := db.Meta(ctx, "rolled"); ok {
			t.Fatal("rolled-back insert is visible")
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value, created_at) VALUES (?, ?, ?)", "kept", "y", 1)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := db.Meta(ctx, "kept"); !ok || v != "y" {
			t.Fatalf("committed insert = %q, %v", v, ok)
		}
	})
}

func TestMetaOrCreate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		v1, created, err := db.MetaOrCreate(ctx, "k", func() (string, error) { return "first", nil })
		if err != nil || !created || v1 != "first" {
			t.Fatalf("first = %q %v %v", v1, created, err)
		}
		v2, created, err := db.MetaOrCreate(ctx, "k", func() (string, error) { return "second", nil })
		if err != nil || created || v2 != "first" {
			t.Fatalf("second = %q %v %v", v2, created, err)
		}
	})
}

func TestScratch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, raw := range []string{"", storetest.PostgresURL()} {
		u, drop, err := store.Scratch(ctx, raw)
		if err != nil {
			t.Fatalf("Scratch(%q): %v", raw, err)
		}
		db, err := store.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate scratch %s: %v", db.Dialect(), err)
		}
		db.Close()
		drop()
		if db.Dialect() == store.Postgres {
			// The schema is gone: a new connection with its search_path finds no tables.
			again, err := store.Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			err = again.QueryRowContext(ctx, "SELECT COUNT(*) FROM meta").Scan(&n)
			again.Close()
			if err == nil {
				t.Fatalf("scratch schema still has its tables after drop")
			}
		}
	}
	if _, _, err := store.Scratch(ctx, "mysql://x"); err == nil {
		t.Fatal("Scratch accepted a mysql URL")
	}
}

func TestOpenScratch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, raw := range []string{"", storetest.PostgresURL()} {
		db, drop, err := store.OpenScratch(ctx, raw)
		if err != nil {
			t.Fatalf("OpenScratch(%q): %v", raw, err)
		}
		ok, err := db.Migrated(ctx)
		if err != nil || !ok {
			t.Fatalf("OpenScratch(%q) %s: migrated = %v, %v", raw, db.Dialect(), ok, err)
		}
		drop()
	}
	if _, _, err := store.OpenScratch(ctx, "mysql://x"); err == nil {
		t.Fatal("OpenScratch accepted a mysql URL")
	}
}
