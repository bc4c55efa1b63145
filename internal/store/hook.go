package store

import (
	"context"
	"sync/atomic"
)

type commitHookKey struct{}

type commitHook struct {
	fn  func(ctx context.Context, tx *Tx) error
	ran atomic.Bool
}

// WithCommitHook returns a context under which the next transaction that InTx commits also
// runs fn, inside that transaction, after its own work and just before the commit: fn's
// writes commit or roll back with it, and an error from fn rolls it back. It is how a
// caller records something about a change made by a service it does not own (the
// console's audit log row of an operator action) in the same transaction as the change.
// The hook runs in at most one committed transaction; committed reports whether it has.
func WithCommitHook(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (_ context.Context, committed func() bool) {
	h := &commitHook{fn: fn}
	return context.WithValue(ctx, commitHookKey{}, h), h.ran.Load
}

// runCommitHook runs the context's hook in tx unless it already committed once.
func runCommitHook(ctx context.Context, tx *Tx) (*commitHook, error) {
	h, _ := ctx.Value(commitHookKey{}).(*commitHook)
	if h == nil || h.ran.Load() {
		return nil, nil
	}
	return h, h.fn(ctx, tx)
}
