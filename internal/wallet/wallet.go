// Package wallet is the wallet edge: who a SEP-10 token speaks for (Identity) and which
// configured client such an identity belongs to (Clients). Every package that serves or
// calls back a wallet uses these two, so an identity is written one way and one wallet's
// SEP-6 and SEP-12 callbacks go to the same client.
//
// The package sits low in the import graph: it imports nothing of vaspgate's.
package wallet

import "strings"

// Identity is who a SEP-10 token speaks for: the account, its memo (or muxed id) and the
// verified client domain. Two memos of one account are two identities; an M… address is its
// base account plus the muxed id as memo. The JSON form is the one stored with a SEP-6
// transaction (its owner).
type Identity struct {
	// Sub is the JWT subject as issued: "G…", "G…:memo" or "M…". It is not stored.
	Sub string `json:"-"`
	// Account is the base G… account (for an M… subject, the account behind it).
	Account string `json:"account"`
	// Memo is the id memo from "G…:memo", or the muxed id of an M… subject, as a decimal
	// string; empty for a plain account.
	Memo string `json:"memo,omitempty"`
	// Muxed is the M… address when the subject is muxed.
	Muxed string `json:"muxed,omitempty"`
	// ClientDomain is the verified client_domain claim, if any.
	ClientDomain string `json:"client_domain,omitempty"`
}

// Shared reports whether the identity is one user of a shared account (memo or muxed).
func (id Identity) Shared() bool { return id.Memo != "" }

// Client kinds (Client.Type), as in Anchor Platform's clients configuration.
const (
	// Custodial clients are recognised by the SEP-10 account (token sub) in SigningKeys.
	Custodial = "custodial"
	// Noncustodial clients are recognised by the verified client_domain in Domains.
	Noncustodial = "noncustodial"
)

// Client is one known wallet: how to recognise its identities and where its static
// callbacks go. A client receives callbacks only about its own customers and transactions.
type Client struct {
	Name string
	// Type is Custodial or Noncustodial.
	Type string
	// SigningKeys are the G… accounts of a custodial client.
	SigningKeys []string
	// Domains are the client_domain values of a noncustodial client.
	Domains []string
	// CallbackURLs are the static callback targets per protocol; all optional.
	CallbackURLs CallbackURLs
}

// CallbackURLs are a client's static callback targets, per protocol.
type CallbackURLs struct {
	SEP6, SEP12, SEP24, SEP31 string
}

// Clients is the registry of known wallets.
type Clients []Client

// For returns the client an identity belongs to: a noncustodial client by the verified
// client domain (compared without regard to case, as DNS names are), else a custodial
// client by the account. ok is false when the identity belongs to no known client.
//
// The domain comes first: a token with a verified client domain speaks for a user of that
// non-custodial wallet (checked against the domain's own stellar.toml), whose account is the
// user's own and not a key of any client.
func (cs Clients) For(id Identity) (c Client, ok bool) {
	if id.ClientDomain != "" {
		for _, c := range cs {
			if c.Type != Noncustodial {
				continue
			}
			for _, d := range c.Domains {
				if strings.EqualFold(d, id.ClientDomain) {
					return c, true
				}
			}
		}
	}
	if id.Account == "" {
		return Client{}, false
	}
	for _, c := range cs {
		if c.Type != Custodial {
			continue
		}
		for _, k := range c.SigningKeys {
			if k == id.Account {
				return c, true
			}
		}
	}
	return Client{}, false
}
