package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Dialect names a database engine.
type Dialect int

const (
	// SQLite is the embedded engine (modernc.org/sqlite, no cgo).
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL through pgx.
	Postgres
)

// String returns the engine name as used in logs and benchmark tables.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	default:
		return "unknown"
	}
}

// DB is an open database of either engine.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	url     string
	rebinds sync.Map // query text -> rebound text (PostgreSQL only)
}

// poolSize is how many connections a PostgreSQL pool opens at most (and keeps idle).
const poolSize = 32

// Querier is what DB and Tx have in common: run a statement with `?` placeholders.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ParseURL splits a database URL into its engine and the driver's data source name.
// Accepted forms: "sqlite:PATH" (also "sqlite://PATH") and "postgres://…" or "postgresql://…".
func ParseURL(raw string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if path == "" {
			return 0, "", errors.New("sqlite URL has no path (example: sqlite:vaspgate.db)")
		}
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Set("_txlock", "immediate")
		return SQLite, "file:" + path + "?" + q.Encode(), nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return 0, "", fmt.Errorf("postgres URL does not parse: %w", err)
		}
		return Postgres, raw, nil
	default:
		return 0, "", errors.New("database URL must start with sqlite: or postgres:// (example: sqlite:vaspgate.db)")
	}
}

// Open connects to the database at url (see ParseURL) and checks that it answers.
// It does not migrate: call Migrate.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	dialect, dsn, err := ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	driver := "pgx"
	if dialect == SQLite {
		driver = "sqlite"
	}
	sqlDB, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	if dialect == SQLite {
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
	} else {
		sqlDB.SetMaxOpenConns(poolSize)
		sqlDB.SetMaxIdleConns(poolSize)
		// No idle limit: the connections KeepWarm opens at start stay open for the next burst,
		// as a timed re-warm would keep them (and a broken one is replaced on use).
		sqlDB.SetConnMaxIdleTime(0)
	}
	db := &DB{sql: sqlDB, dialect: dialect, url: rawURL}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", dialect, err)
	}
	return db, nil
}

// Dialect reports the engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL returns the underlying pool, for libraries that take a *sql.DB (River, goose).
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks that the database answers; readiness probes use it.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Rebind rewrites `?` placeholders for the engine.
func (db *DB) Rebind(query string) string {
	if db.dialect != Postgres {
		return query
	}
	if v, ok := db.rebinds.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	out := b.String()
	db.rebinds.Store(query, out)
	return out
}

// ExecContext runs a statement outside any transaction.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, db.Rebind(query), args...)
}

// QueryContext runs a query outside any transaction.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, db.Rebind(query), args...)
}

// QueryRowContext runs a single-row query outside any transaction.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, db.Rebind(query), args...)
}

// Tx is a transaction of either engine. Everything a change causes (its outbox rows, its
// jobs) is written through the same Tx, so it commits or rolls back as one.
type Tx struct {
	tx       *sql.Tx
	db       *DB
	deferred []*deferred
	ended    []func(committed bool)
}

// AfterEnd arranges for fn to run once tx has ended, after InTx's commit or rollback and
// before InTx returns: committed is true after a successful commit, false after a rollback
// or a failed commit (which may still have been applied). It lets a package act on what it
// wrote only once others can see it (the delivery engine sends what a transaction leased
// to it), and undo its in-memory bookkeeping otherwise.
func (tx *Tx) AfterEnd(fn func(committed bool)) { tx.ended = append(tx.ended, fn) }

// deferred is one package's gathered writes in a transaction (see Tx.Deferred).
type deferred struct {
	key   any
	v     any
	flush func(ctx context.Context, tx *Tx, v any) error
}

// Deferred returns the value tx keeps under key, made by create on the first call with that
// key; that first call also arranges for flush(ctx, tx, value) to run in tx after InTx's
// function (and the commit hook) returned nil, just before the commit, in the order keys
// were first used. An error from flush rolls tx back. It lets a package gather what one
// transaction records through it and write it in one statement at the end (the callback
// outbox: every delivery a business change causes in one round trip). A Tx is used by one
// goroutine at a time, so this needs no lock.
func (tx *Tx) Deferred(key any, create func() any, flush func(ctx context.Context, tx *Tx, v any) error) any {
	for _, d := range tx.deferred {
		if d.key == key {
			return d.v
		}
	}
	d := &deferred{key: key, v: create(), flush: flush}
	tx.deferred = append(tx.deferred, d)
	return d.v
}

// flushDeferred runs the deferred writes in order (a flush may defer more: they run too).
func (tx *Tx) flushDeferred(ctx context.Context) error {
	for i := 0; i < len(tx.deferred); i++ {
		d := tx.deferred[i]
		if err := d.flush(ctx, tx, d.v); err != nil {
			return err
		}
	}
	return nil
}

// SQL returns the underlying transaction, for libraries that take a *sql.Tx (River's
// InsertTx).
func (tx *Tx) SQL() *sql.Tx { return tx.tx }

// Dialect reports the engine of the transaction's database.
func (tx *Tx) Dialect() Dialect { return tx.db.dialect }

// ExecContext runs a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, tx.db.Rebind(query), args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, tx.db.Rebind(query), args...)
}

// QueryRowContext runs a single-row query in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, tx.db.Rebind(query), args...)
}

// InTx runs fn in a transaction: committed when fn returns nil, rolled back otherwise (and
// on panic, which is re-raised). A hook set with WithCommitHook on ctx, then the writes
// deferred with Tx.Deferred, run in the transaction just before the commit; the functions
// given to Tx.AfterEnd run after it ended.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, db: db}
	committed := false
	defer func() {
		p := recover()
		if p != nil {
			_ = sqlTx.Rollback()
		}
		for _, fn := range tx.ended {
			fn(committed)
		}
		if p != nil {
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	hook, err := runCommitHook(ctx, tx)
	if err != nil {
		_ = sqlTx.Rollback()
		return fmt.Errorf("store: commit hook: %w", err)
	}
	if err := tx.flushDeferred(ctx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	committed = true
	if hook != nil {
		hook.ran.Store(true)
	}
	return nil
}

// Micros converts a time to the stored form: Unix microseconds, UTC.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros converts a stored timestamp back to a time in UTC.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
