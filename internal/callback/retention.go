package callback

import (
	"context"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Purge deletes deliveries delivered before cutoff, with their attempts, and returns how many
// went. Dead letters (failed) and everything still open are kept whatever their age: a dead
// letter is an operator's to replay or to look at. Several instances may purge at once; a
// delivery deleted twice is deleted once.
func (ad *Admin) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		n, err := ad.q.purgeBatch(ctx, store.Micros(cutoff))
		total += n
		if err != nil || n < purgeBatchSize {
			return total, err
		}
	}
}

// PurgeRetained deletes the deliveries delivered longer than the retention period ago (none
// when it is negative: kept forever) and returns how many went. The application runs it as
// an hourly maintenance task, once per cluster.
func (e *Engine) PurgeRetained(ctx context.Context) (int, error) {
	if e.cfg.Retention < 0 {
		return 0, nil
	}
	n, err := e.Purge(ctx, e.now().Add(-e.cfg.Retention))
	return int(n), err
}
