package stellar

import "context"

// Identity is who a SEP-10 token speaks for: the account, its memo (or muxed id) and the
// verified client domain. Two memos of one account are two identities.
type Identity struct {
	// Sub is the JWT subject as issued: "G…", "G…:memo" or "M…".
	Sub string
	// Account is the base G… account (for an M… subject, the account behind it).
	Account string
	// Memo is the id memo from "G…:memo", or the muxed id of an M… subject, as a decimal string.
	Memo string
	// Muxed is the M… address when the subject is muxed.
	Muxed string
	// ClientDomain is the verified client_domain claim, if any.
	ClientDomain string
}

type identityKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity the auth middleware put in ctx.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
