package stellar

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vaspgate/vaspgate/internal/store"
)

// DBRedemptions keeps Redemptions in the database (tables sep10_challenges and
// sep10_accounts), so that every instance on one database agrees on used challenges and
// account forms.
type DBRedemptions struct {
	db  *store.DB
	log *slog.Logger
}

// NewDBRedemptions returns Redemptions over db; log nil means slog.Default().
func NewDBRedemptions(db *store.DB, log *slog.Logger) *DBRedemptions {
	if log == nil {
		log = slog.Default()
	}
	return &DBRedemptions{db: db, log: log}
}

// AccountShared implements Redemptions.
func (r *DBRedemptions) AccountShared(ctx context.Context, account string) (shared, known bool, err error) {
	err = r.db.QueryRowContext(ctx, `SELECT shared FROM sep10_accounts WHERE account = ?`, account).Scan(&shared)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, false, nil
	case err != nil:
		return false, false, fmt.Errorf("stellar: read account form: %w", err)
	}
	return shared, true, nil
}

// Redeem implements Redemptions. The account row is claimed first (insert if absent, then
// compare), then the challenge hash; both are unique keys, so concurrent redemptions on
// several instances settle in the database: one wins, the others get ErrChallengeUsed or
// ErrAccountForm, and a refused redemption records nothing.
func (r *DBRedemptions) Redeem(ctx context.Context, rd Redemption) error {
	now := store.Micros(rd.Now)
	err := r.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO sep10_accounts (account, shared, created_at) VALUES (?, ?, ?) ON CONFLICT (account) DO NOTHING`,
			rd.Account, rd.Shared, now); err != nil {
			return fmt.Errorf("stellar: record account form: %w", err)
		}
		var shared bool
		if err := tx.QueryRowContext(ctx, `SELECT shared FROM sep10_accounts WHERE account = ?`, rd.Account).Scan(&shared); err != nil {
			return fmt.Errorf("stellar: read account form: %w", err)
		}
		if shared != rd.Shared {
			return ErrAccountForm
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO sep10_challenges (hash, account, keep_until, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			rd.Hash, rd.Account, store.Micros(rd.KeepUntil), now)
		if err != nil {
			return fmt.Errorf("stellar: record challenge: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("stellar: record challenge: %w", err)
		} else if n == 0 {
			return ErrChallengeUsed
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Forget challenges past their time, outside the redemption's transaction: a row left
	// behind is harmless (its time bounds refuse it), a failure here is not the client's.
	if _, err := r.db.ExecContext(ctx, `DELETE FROM sep10_challenges WHERE keep_until < ?`, now); err != nil {
		r.log.WarnContext(ctx, "stellar: forget old challenges", "err", err)
	}
	return nil
}
