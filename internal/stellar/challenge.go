package stellar

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/strkey"
	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// The challenge is built and read with txnbuild's transaction types, following the SDK's
// BuildChallengeTx and ReadChallengeTx step by step. Those two functions cannot be called
// directly: in go-stellar-sdk v0.7.3 they know nothing of the client_domain operation
// (ReadChallengeTx rejects a manage_data operation whose source is not the server), and
// ReadChallengeTx accepts a minTime up to 5 minutes in the future where the spec says "now
// within the time bounds". The tests check both directions against the SDK functions.

const (
	opWebAuthDomain = "web_auth_domain"
	opClientDomain  = "client_domain"
	nonceBytes      = 48
	// minTimeSkew tolerates clocks of several instances that disagree by a little: a challenge
	// issued by one instance at T is accepted by another whose clock still reads T-skew.
	minTimeSkew = 60 * time.Second
	// maxSignatures is the protocol's limit on signatures per transaction.
	maxSignatures = 20
)

// challengeParams is what one challenge transaction says.
type challengeParams struct {
	client          string // G… or M… (source of the first operation)
	memo            *txnbuild.MemoID
	homeDomain      string
	clientDomain    string
	clientDomainKey string
	minTime         time.Time
	maxTime         time.Time
}

// buildChallenge returns the signed challenge transaction for p.
func (a *Auth) buildChallenge(p challengeParams) (*txnbuild.Transaction, error) {
	nonce := make([]byte, nonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("stellar: challenge nonce: %w", err)
	}
	ops := []txnbuild.Operation{
		&txnbuild.ManageData{
			SourceAccount: p.client,
			Name:          p.homeDomain + " auth",
			Value:         []byte(base64.StdEncoding.EncodeToString(nonce)),
		},
		&txnbuild.ManageData{
			SourceAccount: a.server.Address(),
			Name:          opWebAuthDomain,
			Value:         []byte(a.webAuthDomain),
		},
	}
	if p.clientDomain != "" {
		ops = append(ops, &txnbuild.ManageData{
			SourceAccount: p.clientDomainKey,
			Name:          opClientDomain,
			Value:         []byte(p.clientDomain),
		})
	}
	params := txnbuild.TransactionParams{
		SourceAccount:        &txnbuild.SimpleAccount{AccountID: a.server.Address(), Sequence: 0},
		IncrementSequenceNum: false,
		Operations:           ops,
		BaseFee:              txnbuild.MinBaseFee,
		Preconditions: txnbuild.Preconditions{
			TimeBounds: txnbuild.NewTimebounds(p.minTime.Unix(), p.maxTime.Unix()),
		},
	}
	// A nil *MemoID in the interface field would be a non-nil Memo: assign only when set.
	if p.memo != nil {
		params.Memo = p.memo
	}
	tx, err := txnbuild.NewTransaction(params)
	if err != nil {
		return nil, fmt.Errorf("stellar: build challenge: %w", err)
	}
	tx, err = tx.Sign(a.passphrase, a.server)
	if err != nil {
		return nil, fmt.Errorf("stellar: sign challenge: %w", err)
	}
	return tx, nil
}

// challenge is a challenge read back from a client, with the server signature checked.
type challenge struct {
	tx              *txnbuild.Transaction
	hash            [32]byte
	client          string // G… or M…, as in the first operation
	account         string // the G… behind client
	memo            string // decimal id memo, or the muxed id
	muxed           bool
	homeDomain      string
	clientDomain    string
	clientDomainKey string
	maxTime         time.Time
	// sigs are the challenge's signatures, the server's already accounted for.
	sigs *signatures
}

// hashHex is the challenge's transaction hash in hex: the jti and the replay key.
func (c *challenge) hashHex() string { return hex.EncodeToString(c.hash[:]) }

// sub is the JWT subject of stellar-seps.md 3.4.
func (c *challenge) sub() string {
	if !c.muxed && c.memo != "" {
		return c.account + ":" + c.memo
	}
	return c.client
}

// readChallenge decodes a challenge and runs checks 1 to 5 of stellar-seps.md 3.2.
func (a *Auth) readChallenge(b64 string, now time.Time) (*challenge, error) {
	// 1. Envelope.
	gtx, err := txnbuild.TransactionFromXDR(b64)
	if err != nil {
		return nil, invalid("transaction is not a valid transaction envelope")
	}
	tx, ok := gtx.Transaction()
	if !ok {
		return nil, invalid("transaction must not be a fee bump transaction")
	}
	env := tx.ToXDR()

	// 2. Source, sequence, time bounds.
	if env.SourceAccount().Type != xdr.CryptoKeyTypeKeyTypeEd25519 || tx.SourceAccount().AccountID != a.server.Address() {
		return nil, invalid("transaction source account is not the server's SIGNING_KEY")
	}
	if tx.SequenceNumber() != 0 {
		return nil, invalid("transaction sequence number must be 0")
	}
	tb := tx.Timebounds()
	if tb.MaxTime == txnbuild.TimeoutInfinite || tb.MinTime == 0 {
		return nil, invalid("transaction must have time bounds")
	}
	minTime, maxTime := time.Unix(tb.MinTime, 0), time.Unix(tb.MaxTime, 0)
	if now.Add(minTimeSkew).Before(minTime) {
		return nil, invalid("challenge is not valid yet")
	}
	if now.After(maxTime) {
		return nil, invalid("challenge has expired")
	}

	// 3. The first operation: <home domain> auth, from the client, with a 48-byte nonce.
	ops := tx.Operations()
	if len(ops) == 0 {
		return nil, invalid("challenge has no operations")
	}
	first, ok := ops[0].(*txnbuild.ManageData)
	if !ok {
		return nil, invalid("first operation must be manage_data")
	}
	c := &challenge{tx: tx, client: first.SourceAccount, maxTime: maxTime}
	switch src := env.Operations()[0].SourceAccount; {
	case src == nil || first.SourceAccount == "":
		return nil, invalid("first operation must have the client account as source")
	case src.Type == xdr.CryptoKeyTypeKeyTypeEd25519:
		c.account = first.SourceAccount
	case src.Type == xdr.CryptoKeyTypeKeyTypeMuxedEd25519:
		id, err := src.GetId()
		if err != nil {
			return nil, invalid("first operation source is not a valid muxed account")
		}
		c.account = src.ToAccountId().Address()
		c.memo = strconv.FormatUint(id, 10)
		c.muxed = true
	default:
		return nil, invalid("first operation source must be a G… or M… account")
	}
	for _, d := range a.homeDomains {
		if first.Name == d+" auth" {
			c.homeDomain = d
		}
	}
	if c.homeDomain == "" {
		return nil, invalid("first operation name is not '<home domain> auth' for a home domain of this server")
	}
	nonce, err := base64.StdEncoding.DecodeString(string(first.Value))
	if len(first.Value) != 64 || err != nil || len(nonce) != nonceBytes {
		return nil, invalid("first operation value must be a base64 encoded 48-byte nonce")
	}
	if m := tx.Memo(); m != nil {
		id, ok := m.(txnbuild.MemoID)
		if !ok {
			return nil, invalid("challenge memo must be of type id")
		}
		if c.muxed {
			return nil, invalid("a challenge for a muxed account must not have a memo")
		}
		c.memo = strconv.FormatUint(uint64(id), 10)
	}

	// 4. Every other operation: manage_data from the server, except client_domain.
	webAuthSeen := false
	for _, op := range ops[1:] {
		md, ok := op.(*txnbuild.ManageData)
		if !ok {
			return nil, invalid("challenge operations must all be manage_data")
		}
		switch md.Name {
		case opClientDomain:
			if c.clientDomain != "" || !strkey.IsValidEd25519PublicKey(md.SourceAccount) || len(md.Value) == 0 {
				return nil, invalid("invalid client_domain operation")
			}
			c.clientDomain, c.clientDomainKey = string(md.Value), md.SourceAccount
		case opWebAuthDomain:
			if md.SourceAccount != a.server.Address() {
				return nil, invalid("web_auth_domain operation must have the server account as source")
			}
			if string(md.Value) != a.webAuthDomain {
				return nil, invalid("web_auth_domain operation value is not this server's auth host")
			}
			webAuthSeen = true
		default:
			if md.SourceAccount != a.server.Address() {
				return nil, invalid("challenge has an unrecognized operation")
			}
		}
	}
	if !webAuthSeen {
		return nil, invalid("challenge has no web_auth_domain operation")
	}

	// 5. The server's signature, before anything costs a ledger lookup.
	if c.hash, err = tx.Hash(a.passphrase); err != nil {
		return nil, invalid("transaction cannot be hashed")
	}
	if len(tx.Signatures()) > maxSignatures {
		return nil, invalid("transaction has too many signatures")
	}
	c.sigs = newSignatures(c)
	if !c.sigs.consume(a.server.Address()) {
		return nil, invalid("challenge is not signed by the server's SIGNING_KEY")
	}
	return c, nil
}

// signatures consumes the signatures of one challenge: each may count for one key only.
type signatures struct {
	hash [32]byte
	sigs []xdr.DecoratedSignature
	used []bool
}

func newSignatures(c *challenge) *signatures {
	s := c.tx.Signatures()
	return &signatures{hash: c.hash, sigs: s, used: make([]bool, len(s))}
}

// consume marks the first unused valid signature of key as used and reports whether there
// was one.
func (s *signatures) consume(key string) bool {
	kp, err := keypair.ParseAddress(key)
	if err != nil {
		return false
	}
	hint := kp.Hint()
	for i, ds := range s.sigs {
		if s.used[i] || ds.Hint != xdr.SignatureHint(hint) {
			continue
		}
		if kp.Verify(s.hash[:], ds.Signature) == nil {
			s.used[i] = true
			return true
		}
	}
	return false
}

// unused is the number of signatures no key accounted for.
func (s *signatures) unused() int {
	n := 0
	for _, u := range s.used {
		if !u {
			n++
		}
	}
	return n
}

// verifySignatures runs checks 6 to 8 of stellar-seps.md 3.2 on a challenge readChallenge
// accepted. acct is nil for an account that does not exist (or ledger lookups disabled).
func (a *Auth) verifySignatures(c *challenge, acct *LedgerAccount) error {
	s := c.sigs
	if c.clientDomainKey != "" && !s.consume(c.clientDomainKey) {
		return invalid("challenge is not signed by the client domain's SIGNING_KEY")
	}
	if acct == nil {
		// 7. No ledger account: the master key alone, nothing else.
		if !s.consume(c.account) {
			return invalid("challenge is not signed by the client account")
		}
		if s.unused() > 0 {
			return invalid("challenge for an account that does not exist must be signed by its master key only")
		}
		return nil
	}
	// 6. Existing account: every signature from a distinct signer; weights reach medium.
	seen := map[string]bool{}
	var weight int64
	for _, sg := range acct.Signers {
		if sg.Weight <= 0 || sg.Key == a.server.Address() || seen[sg.Key] {
			continue
		}
		seen[sg.Key] = true
		if s.consume(sg.Key) {
			weight += int64(sg.Weight)
		}
	}
	if s.unused() > 0 {
		return invalid("challenge has a signature that is not from a signer of the account, or a second one from the same signer")
	}
	if weight == 0 {
		return invalid("challenge is not signed by the client account")
	}
	threshold := max(int64(acct.MedThreshold), 1)
	if weight < threshold {
		return invalid(fmt.Sprintf("signature weight %d does not reach the account's medium threshold %d", weight, threshold))
	}
	return nil
}
