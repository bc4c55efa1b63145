// Package store opens vaspgate's database — SQLite (embedded, the default) or PostgreSQL
// (production, many instances) — applies the embedded migrations and runs transactions.
//
// SQL is written once with `?` placeholders and rewritten to `$n` for PostgreSQL, so every
// package keeps a single query text for both engines. Timestamps are stored as BIGINT Unix
// microseconds (see Micros), which sort, compare and index the same way on both engines.
//
// SQLite runs in WAL mode with a busy timeout, synchronous=FULL (an acknowledged write
// survives power loss, which the travel-rule receiver promises) and a single open
// connection: SQLite has one writer anyway, and one connection rules out SQLITE_BUSY between
// our own goroutines. The consequence callers must respect: never use the DB while holding
// a Tx, or the goroutine waits for itself.
package store
