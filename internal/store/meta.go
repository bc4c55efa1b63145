package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Meta returns the value stored under key, and false when there is none.
func (db *DB) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: read meta %q: %w", key, err)
	}
	return v, true, nil
}

// MetaOrCreate returns the value stored under key, storing make()'s value first when there
// is none. Instances starting together agree on one value: the first insert wins.
func (db *DB) MetaOrCreate(ctx context.Context, key string, make func() (string, error)) (value string, created bool, err error) {
	if v, ok, err := db.Meta(ctx, key); err != nil || ok {
		return v, false, err
	}
	v, err := make()
	if err != nil {
		return "", false, err
	}
	res, err := db.ExecContext(ctx,
		"INSERT INTO meta (key, value, created_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
		key, v, Micros(time.Now()))
	if err != nil {
		return "", false, fmt.Errorf("store: write meta %q: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return v, true, nil
	}
	v, _, err = db.Meta(ctx, key)
	return v, false, err
}
