// Package actor says who caused a change: the wallet (a SEP-10 authenticated request), the
// business (its JSON-RPC or REST platform API), an operator (the console or the admin API)
// or vaspgate itself (the system: payment observer, Travel Rule, timers).
//
// The edge that authenticates a request puts its actor in the request's context; the
// domain package that records history reads it there. A change made with no actor in its
// context is the system's.
package actor

import "context"

// Kind is the sort of party that caused a change.
type Kind string

// Kinds.
const (
	Wallet   Kind = "wallet"
	Business Kind = "business"
	Operator Kind = "operator"
	System   Kind = "system"
)

// Actor is who caused a change. Name says which one: the wallet's account, the
// operator's name, the business interface used; never personal data.
type Actor struct {
	Kind Kind
	Name string
}

type key struct{}

// With returns a context carrying a.
func With(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, key{}, a)
}

// From returns the actor ctx carries, or the system when it carries none.
func From(ctx context.Context) Actor {
	if a, ok := ctx.Value(key{}).(Actor); ok && a.Kind != "" {
		return a
	}
	return Actor{Kind: System}
}
