package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Scratch returns the URL of a database that a test or load tool may fill and throw away,
// and the function that throws it away:
//
//   - raw empty: a SQLite file in a new temporary directory;
//   - raw "sqlite:…": that file, left in place (the caller named it);
//   - raw "postgres://…": a fresh schema on that server (search_path set in the returned
//     URL), dropped by the cleanup, so existing data is never touched.
func Scratch(ctx context.Context, raw string) (string, func(), error) {
	switch {
	case raw == "":
		dir, err := os.MkdirTemp("", "vaspgate-scratch-")
		if err != nil {
			return "", nil, fmt.Errorf("store: scratch: %w", err)
		}
		return "sqlite:" + filepath.Join(dir, "vaspgate.db"), func() { os.RemoveAll(dir) }, nil
	case strings.HasPrefix(raw, "sqlite:"):
		return raw, func() {}, nil
	}
	if d, _, err := ParseURL(raw); err != nil || d != Postgres {
		return "", nil, fmt.Errorf("store: scratch: %q is not a sqlite: or postgres:// URL", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("store: scratch: %w", err)
	}
	admin, err := sql.Open("pgx", raw)
	if err != nil {
		return "", nil, fmt.Errorf("store: scratch: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "scratch_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("store: scratch: create schema on %s: %w", u.Redacted(), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		_, _ = admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	}, nil
}

// OpenScratch is Scratch, opened and migrated: the database a load tool fills and throws
// away. The returned function closes the database before throwing it away (a PostgreSQL
// schema cannot be dropped cleanly under open connections' feet).
func OpenScratch(ctx context.Context, raw string) (*DB, func(), error) {
	u, drop, err := Scratch(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	db, err := Open(ctx, u)
	if err != nil {
		drop()
		return nil, nil, fmt.Errorf("store: open scratch: %w", err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		drop()
		return nil, nil, fmt.Errorf("store: migrate scratch: %w", err)
	}
	return db, func() { db.Close(); drop() }, nil
}
