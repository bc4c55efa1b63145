package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Quote expiry. SEP-6 and SEP-31 say a transaction that took a firm SEP-38 quote expires
// when the quote does, if its funds never arrived: the anchor cannot honour the price any
// longer. The sweep finds such transactions (open, no funds received, their quote's
// expires_at passed) and moves each through notify_transaction_expired, the business method,
// so the wallet or sending anchor and the business hear it as from any other change.

// ExpiredQuoteMessage is the status message of a transaction expired with its quote.
const ExpiredQuoteMessage = "the quote expired before the funds arrived"

// ExpireArgs is the periodic quote-expiry sweep.
type ExpireArgs struct{}

// Kind implements river.JobArgs.
func (ExpireArgs) Kind() string { return "transfer_expire_quoted" }

// jobQueue is the River queue of the transfer service's jobs.
const jobQueue = "transfer"

// RegisterExpiry schedules the quote-expiry sweep on jobs every interval (by River's elected
// leader: one instance at a time). Call it before the job engine opens.
func (s *Service) RegisterExpiry(jobs *job.Engine, every time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	jobs.AddQueue(jobQueue, 1)
	job.AddWorker(jobs, river.WorkFunc(func(ctx context.Context, _ *river.Job[ExpireArgs]) error {
		n, err := s.ExpireQuoted(ctx, s.Now())
		if n > 0 {
			log.Info("transactions expired with their quotes", "count", n)
		}
		return err
	}))
	jobs.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			return ExpireArgs{}, &river.InsertOpts{Queue: jobQueue, UniqueOpts: river.UniqueOpts{ByPeriod: every}}
		}, &river.PeriodicJobOpts{RunOnStart: true}))
}

// ExpireQuoted expires every open transaction whose firm quote expired at or before now and
// whose funds were not received (at most 500 a call, oldest quotes first), and returns how
// many it expired. A transaction the state machine does not let expire (its funds arrived
// meanwhile, a concurrent change) is left as it is; on_hold is left to whoever holds it.
func (s *Service) ExpireQuoted(ctx context.Context, now time.Time) (int, error) {
	open := slices.DeleteFunc(openStatuses(), func(st Status) bool { return st == StatusOnHold })
	args := make([]any, 0, len(open)+1)
	for _, st := range open {
		args = append(args, string(st))
	}
	args = append(args, store.Micros(now))
	rows, err := s.db.QueryContext(ctx, `SELECT t.id FROM transfer_transactions t
	JOIN sep38_quotes q ON q.transaction_id = t.id
	WHERE t.status IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(open)), ", ")+`)
	AND t.transfer_received_at IS NULL AND q.expires_at <= ?
	ORDER BY q.expires_at LIMIT 500`, args...)
	if err != nil {
		return 0, fmt.Errorf("transfer: find transactions with expired quotes: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("transfer: find transactions with expired quotes: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("transfer: find transactions with expired quotes: %w", err)
	}
	n := 0
	for _, id := range ids {
		_, err := s.Apply(ctx, "notify_transaction_expired", Params{TransactionID: id, Message: ExpiredQuoteMessage})
		var te *TransitionError
		switch {
		case err == nil:
			n++
		case errors.As(err, &te), errors.Is(err, ErrConflict):
			// Moved on meanwhile (funds received, another change): the next sweep sees it anew.
		default:
			return n, err
		}
	}
	return n, nil
}
