package console

import (
	"context"
	"fmt"
	"net/http"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
)

// endpointRow is one endpoint on the overview: its health from the delivery engine and
// how its open deliveries split between due and in flight.
type endpointRow struct {
	callback.Endpoint
	Due, InFlight int64
}

type overviewData struct {
	Endpoints        []endpointRow
	Pending, Failed  int64
	KYCWaiting       int64
	TravelRuleWaits  int64
	Quarantined      int64
	Sessions         int64
	CustomersBuiltin bool
}

// overview shows counts read from the database, never from this process's memory, so
// every instance shows the same numbers.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	eps, err := c.opts.Deliveries.Endpoints(ctx)
	if err != nil {
		c.internal(w, r, s, "read the endpoints", err)
		return
	}
	split, err := c.openSplit(ctx)
	if err != nil {
		c.internal(w, r, s, "count open deliveries", err)
		return
	}
	d := overviewData{}
	for _, ep := range eps {
		row := endpointRow{Endpoint: ep, Due: split[ep.ID][0], InFlight: split[ep.ID][1]}
		d.Endpoints = append(d.Endpoints, row)
		d.Pending += ep.Pending
		d.Failed += ep.Failed
	}
	for _, q := range []struct {
		dst *int64
		sql string
	}{
		{&d.KYCWaiting, `SELECT COUNT(*) FROM kyc_customer_types WHERE status = 'PROCESSING'`},
		{&d.TravelRuleWaits, `SELECT COUNT(*) FROM travel_rule_verifications WHERE status = 'PENDING'`},
		{&d.Quarantined, `SELECT COUNT(*) FROM travel_rule_inbox WHERE state = 'quarantined'`},
	} {
		if err := c.opts.DB.QueryRowContext(ctx, q.sql).Scan(q.dst); err != nil {
			c.internal(w, r, s, "count the work waiting", err)
			return
		}
	}
	if d.Sessions, err = c.sessions(ctx); err != nil {
		c.internal(w, r, s, "count sessions", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "overview", d)
}

// openSplit counts, per endpoint, the subject heads due now and those in flight (leased).
// Only heads are 'pending' (the rest of a subject waits 'queued'), so this reads the small
// partial index of pending rows, not the deliveries table. Read-only: the delivery engine
// owns these rows.
func (c *Console) openSplit(ctx context.Context) (map[string][2]int64, error) {
	now := store.Micros(c.opts.Now())
	rows, err := c.opts.DB.QueryContext(ctx, `SELECT endpoint_id,
		SUM(CASE WHEN lease_until <= ? AND next_at <= ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN lease_until > ? THEN 1 ELSE 0 END)
		FROM callback_deliveries WHERE status = 'pending' GROUP BY endpoint_id`, now, now, now)
	if err != nil {
		return nil, fmt.Errorf("console: count open deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string][2]int64{}
	for rows.Next() {
		var id string
		var due, flight int64
		if err := rows.Scan(&id, &due, &flight); err != nil {
			return nil, fmt.Errorf("console: count open deliveries: %w", err)
		}
		out[id] = [2]int64{due, flight}
	}
	return out, rows.Err()
}
