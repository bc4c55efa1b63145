// Package stellar implements the Stellar side of a wallet's first contact: the SEP-1
// stellar.toml and SEP-10 web authentication (challenge, token, JWT), and the identity a
// token carries (account, memo or muxed id, client domain).
//
// The rules are those of stellar-seps.md sections 2 and 3. Two choices go beyond the SEPs:
// a ledger that cannot be reached fails authentication (503, never the master-key fallback
// of Anchor Platform), and an account is either shared (memo or muxed) or not, for good.
// HTTP handlers live in the stellarhttp sub-package.
package stellar
