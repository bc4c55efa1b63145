package transfer

import (
	"context"
	"fmt"
	"strings"

	"github.com/vaspgate/vaspgate/internal/limit"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// checkPending runs in Create's transaction: the owner's unfinished transactions, counted
// from their rows (so every instance agrees) under a per-owner lock (so concurrent
// requests cannot both take the last place).
func (s *Service) checkPending(ctx context.Context, tx *store.Tx, o wallet.Identity) error {
	if s.pending.Max <= 0 {
		return nil
	}
	if err := limit.Serialize(ctx, tx, "transfer.pending/"+o.Account+"/"+o.Memo); err != nil {
		return err
	}
	var terminal []any
	for _, st := range allStatuses {
		if st.Terminal() {
			terminal = append(terminal, string(st))
		}
	}
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM transfer_transactions WHERE owner_account = ? AND owner_memo = ?
		AND status NOT IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(terminal)), ", ")+`)`,
		append([]any{o.Account, o.Memo}, terminal...)...).Scan(&n)
	if err != nil {
		return fmt.Errorf("transfer: count pending: %w", err)
	}
	return s.pending.Check(n, 1, "unfinished transactions of this account and memo")
}
