package observer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// leaseName is the one lease row: every instance watches the same accounts.
const leaseName = "payments"

// acquire takes or renews the lease for holder until now+ttl: it succeeds when no one
// holds it, when the holder's lease has expired, or when holder already holds it. The
// whole decision is one statement, so two instances racing for an expired lease cannot
// both win.
func acquire(ctx context.Context, db *store.DB, holder string, now time.Time, ttl time.Duration) (bool, error) {
	res, err := db.ExecContext(ctx, `INSERT INTO observer_leases (name, holder, expires_at, term) VALUES (?, ?, ?, 1)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
			term = CASE WHEN observer_leases.holder = excluded.holder THEN observer_leases.term ELSE observer_leases.term + 1 END
		WHERE observer_leases.holder = excluded.holder OR observer_leases.expires_at < ?`,
		leaseName, holder, store.Micros(now.Add(ttl)), store.Micros(now))
	if err != nil {
		return false, fmt.Errorf("observer: lease: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("observer: lease: %w", err)
	}
	return n == 1, nil
}

// release gives the lease up at once (a clean stop), so that another instance need not
// wait for it to expire.
func release(ctx context.Context, db *store.DB, holder string) error {
	_, err := db.ExecContext(ctx, "DELETE FROM observer_leases WHERE name = ? AND holder = ?", leaseName, holder)
	if err != nil {
		return fmt.Errorf("observer: release lease: %w", err)
	}
	return nil
}

// Lease is the lease row as stored.
type Lease struct {
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
	Term      int64     `json:"term"`
}

func readLease(ctx context.Context, q store.Querier) (Lease, bool, error) {
	var (
		l       Lease
		expires int64
	)
	err := q.QueryRowContext(ctx, "SELECT holder, expires_at, term FROM observer_leases WHERE name = ?", leaseName).Scan(&l.Holder, &expires, &l.Term)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("observer: read lease: %w", err)
	}
	l.ExpiresAt = store.FromMicros(expires)
	return l, true, nil
}
