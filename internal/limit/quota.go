package limit

import (
	"context"
	"fmt"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Quota is an upper bound on what one owner (or everyone, for a global quota) may keep. Name
// is the configuration key, shown in the refusal; Max 0 means no bound.
type Quota struct {
	Name string
	Max  int64
}

// Check returns a *QuotaError when used plus adding passes the quota; what says what is
// counted ("files", "bytes of files", …).
func (q Quota) Check(used, adding int64, what string) error {
	if q.Max <= 0 || used+adding <= q.Max {
		return nil
	}
	return &QuotaError{Quota: q.Name, Limit: q.Max,
		Msg: fmt.Sprintf("quota reached: %d %s in use, %d more asked, at most %d allowed", used, what, adding, q.Max)}
}

// Serialize makes tx the only transaction counting and adding under key until it ends, so
// that two concurrent requests of one owner cannot both pass a quota that has room for one.
// On PostgreSQL it is a transaction-scoped advisory lock on a hash of key; SQLite runs one
// writing transaction at a time already.
func Serialize(ctx context.Context, tx *store.Tx, key string) error {
	if tx.Dialect() != store.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 7411))`, "vaspgate.quota:"+key); err != nil {
		return fmt.Errorf("limit: lock %s: %w", key, err)
	}
	return nil
}
