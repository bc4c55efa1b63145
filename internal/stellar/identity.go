package stellar

import (
	"context"

	"github.com/vaspgate/vaspgate/internal/wallet"
)

type identityKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id wallet.Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity the auth middleware put in ctx.
func IdentityFrom(ctx context.Context) (wallet.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(wallet.Identity)
	return id, ok
}
