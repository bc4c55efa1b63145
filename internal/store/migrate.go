package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations
var migrations embed.FS

// migrationLockID is the PostgreSQL advisory lock that serialises migrations when several
// instances start at once ("vaspgate" in ASCII, so it is recognisable in pg_locks).
const migrationLockID int64 = 0x7661737067617465

// MigrationResult says what Migrate applied.
type MigrationResult struct {
	// Applied lists the vaspgate migrations applied by this call, by file name.
	Applied []string
	// RiverApplied counts the job-engine migrations applied by this call.
	RiverApplied int
}

// Migrate applies every embedded migration not yet applied: the job engine's (River) and
// vaspgate's own. It is safe to call on every start and from several instances at once: on
// PostgreSQL the instances take turns under an advisory lock; on SQLite the single writer
// does the same job.
func (db *DB) Migrate(ctx context.Context) (MigrationResult, error) {
	var res MigrationResult
	if db.dialect == Postgres {
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			return res, fmt.Errorf("store: migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
			return res, fmt.Errorf("store: migrate: take lock: %w", err)
		}
		// Unlock with a fresh context: the caller's may be cancelled by now, and an advisory
		// lock left on a pooled connection would block every later start.
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID)
	}

	n, err := db.migrateRiver(ctx)
	if err != nil {
		return res, err
	}
	res.RiverApplied = n

	dir, gooseDialect := "migrations/sqlite", goose.DialectSQLite3
	if db.dialect == Postgres {
		dir, gooseDialect = "migrations/postgres", goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return res, fmt.Errorf("store: migrate: %w", err)
	}
	// Out-of-order is allowed because each area numbers its migrations in its own range.
	provider, err := goose.NewProvider(gooseDialect, db.sql, sub,
		goose.WithAllowOutofOrder(true), goose.WithDisableGlobalRegistry(true),
		goose.WithTableName("vaspgate_migrations"))
	if err != nil {
		return res, fmt.Errorf("store: migrate: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range results {
		res.Applied = append(res.Applied, r.Source.Path)
	}
	return res, nil
}

func (db *DB) migrateRiver(ctx context.Context) (int, error) {
	var (
		res *rivermigrate.MigrateResult
		err error
	)
	if db.dialect == Postgres {
		m, mErr := rivermigrate.New(riverdatabasesql.New(db.sql), nil)
		if mErr != nil {
			return 0, fmt.Errorf("store: migrate river: %w", mErr)
		}
		res, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	} else {
		m, mErr := rivermigrate.New(riversqlite.New(db.sql), nil)
		if mErr != nil {
			return 0, fmt.Errorf("store: migrate river: %w", mErr)
		}
		res, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		return 0, fmt.Errorf("store: migrate river: %w", err)
	}
	return len(res.Versions), nil
}

// Migrated reports whether every embedded vaspgate migration is applied; readiness uses it.
func (db *DB) Migrated(ctx context.Context) (bool, error) {
	dir := "migrations/sqlite"
	if db.dialect == Postgres {
		dir = "migrations/postgres"
	}
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return false, err
	}
	var applied int
	err = db.QueryRowContext(ctx,
		"SELECT COUNT(DISTINCT version_id) FROM vaspgate_migrations WHERE version_id > 0 AND is_applied").Scan(&applied)
	if err != nil {
		return false, fmt.Errorf("store: read migrations: %w", err)
	}
	return applied >= len(entries), nil
}
