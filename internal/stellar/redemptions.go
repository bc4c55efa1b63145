package stellar

import (
	"context"
	"errors"
	"sync"
	"time"
)

var (
	// ErrChallengeUsed is returned by Redemptions.Redeem for a challenge already exchanged.
	ErrChallengeUsed = errors.New("stellar: challenge already used")
	// ErrAccountForm is returned by Redemptions.Redeem when the account is recorded in the
	// other form (shared by memo/muxed id, or not shared).
	ErrAccountForm = errors.New("stellar: account authenticates in the other form")
)

// Redemption is one successful token exchange.
type Redemption struct {
	// Hash is the hex hash of the challenge transaction.
	Hash string
	// Account is the G… account that authenticated.
	Account string
	// Shared is true when it authenticated with a memo or as a muxed account.
	Shared bool
	// KeepUntil is when the hash may be forgotten (after the challenge's maxTime).
	KeepUntil time.Time
	// Now is the current time (for forgetting older hashes and for the record).
	Now time.Time
}

// Redemptions remembers exchanged challenges (one JWT per challenge) and, per G… account,
// whether it authenticates as a shared account (stellar-seps.md 3.2 check 9 and 3.4).
// Implementations shared by several instances make them agree.
type Redemptions interface {
	// AccountShared reports the recorded form of account; known is false if none is.
	AccountShared(ctx context.Context, account string) (shared, known bool, err error)
	// Redeem records r atomically: ErrChallengeUsed if the hash is known, ErrAccountForm if
	// the account is recorded in the other form; nothing is recorded in those cases.
	Redeem(ctx context.Context, r Redemption) error
}

// MemoryRedemptions is a Redemptions for one process (tests, single-instance development).
type MemoryRedemptions struct {
	mu       sync.Mutex
	used     map[string]time.Time
	accounts map[string]bool
}

// NewMemoryRedemptions returns an empty MemoryRedemptions.
func NewMemoryRedemptions() *MemoryRedemptions {
	return &MemoryRedemptions{used: map[string]time.Time{}, accounts: map[string]bool{}}
}

// AccountShared implements Redemptions.
func (m *MemoryRedemptions) AccountShared(_ context.Context, account string) (bool, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	shared, known := m.accounts[account]
	return shared, known, nil
}

// Redeem implements Redemptions.
func (m *MemoryRedemptions) Redeem(_ context.Context, r Redemption) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, until := range m.used {
		if until.Before(r.Now) {
			delete(m.used, h)
		}
	}
	if _, ok := m.used[r.Hash]; ok {
		return ErrChallengeUsed
	}
	if shared, known := m.accounts[r.Account]; known && shared != r.Shared {
		return ErrAccountForm
	}
	m.used[r.Hash] = r.KeepUntil
	m.accounts[r.Account] = r.Shared
	return nil
}
