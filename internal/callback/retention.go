package callback

import (
	"context"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// purgeEvery is how often Run deletes delivered deliveries past the retention period.
const purgeEvery = time.Hour

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
