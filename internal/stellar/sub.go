package stellar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/wallet"
)

// ErrInvalidSub is returned (wrapped) by ParseSub for a subject that is not G…, G…:memo or M….
var ErrInvalidSub = errors.New("stellar: invalid sub")

// ParseSub parses a SEP-10 JWT subject: "G…" (plain account), "G…:<id memo>" (account
// shared by memo) or "M…" (muxed account). It splits on the first ':' (stellar-seps.md 3.4).
// The memo is returned in canonical decimal form; a non-canonical one ("007") is refused, so
// that one identity has one spelling.
func ParseSub(sub string) (wallet.Identity, error) {
	account, memo, hasMemo := strings.Cut(sub, ":")
	switch {
	case strkey.IsValidEd25519PublicKey(account):
		id := wallet.Identity{Sub: sub, Account: account}
		if !hasMemo {
			return id, nil
		}
		n, err := strconv.ParseUint(memo, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != memo {
			return wallet.Identity{}, fmt.Errorf("%w: memo %q is not a decimal id memo", ErrInvalidSub, memo)
		}
		id.Memo = memo
		return id, nil
	case !hasMemo && strings.HasPrefix(account, "M"):
		m, err := strkey.DecodeMuxedAccount(account)
		if err != nil {
			return wallet.Identity{}, fmt.Errorf("%w: %q is not a muxed account", ErrInvalidSub, account)
		}
		base, err := m.AccountID()
		if err != nil {
			return wallet.Identity{}, fmt.Errorf("%w: %q: %v", ErrInvalidSub, account, err)
		}
		return wallet.Identity{Sub: sub, Account: base, Memo: strconv.FormatUint(m.ID(), 10), Muxed: account}, nil
	default:
		return wallet.Identity{}, fmt.Errorf("%w: %q is not G…, G…:memo or M…", ErrInvalidSub, sub)
	}
}
