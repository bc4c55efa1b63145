package callback

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// purgeEvery is how often Run deletes delivered deliveries past the retention period.
const purgeEvery = time.Hour

// purgeBatch bounds one purge transaction, so a large backlog never holds locks for long.
const purgeBatch = 1000

// Purge deletes deliveries delivered before cutoff, with their attempts, and returns how many
// went. Dead letters (failed) and everything still open are kept whatever their age: a dead
// letter is an operator's to replay or to look at. Several instances may purge at once; a
// delivery deleted twice is deleted once.
func (e *Engine) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		n, err := e.purgeBatch(ctx, store.Micros(cutoff))
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
}

func (e *Engine) purgeBatch(ctx context.Context, cutoff int64) (int64, error) {
	var n int64
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM callback_deliveries
			WHERE status = ? AND finished_at > 0 AND finished_at < ? ORDER BY id LIMIT ?`,
			StatusDelivered, cutoff, purgeBatch)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		in := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
		if _, err := tx.ExecContext(ctx, "DELETE FROM callback_attempts WHERE delivery_id IN ("+in+")", ids...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM callback_deliveries WHERE status = '"+StatusDelivered+"' AND id IN ("+in+")", ids...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return n, fmt.Errorf("callback: purge delivered: %w", err)
	}
	return n, nil
}

// purgeLoop applies the retention period every purgeEvery until ctx ends.
func (e *Engine) purgeLoop(ctx context.Context) {
	if e.cfg.Retention < 0 {
		return // kept forever
	}
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := e.Purge(ctx, e.now().Add(-e.cfg.Retention))
			switch {
			case err != nil && ctx.Err() == nil:
				e.log.Error("purge delivered deliveries", "err", err)
			case n > 0:
				e.log.Info("purged delivered deliveries past retention", "deliveries", n, "retention", e.cfg.Retention.String())
			}
		}
	}
}
