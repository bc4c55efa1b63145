package observer

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AccountStatus is how one watched account's stream stands.
type AccountStatus struct {
	Account string `json:"account"`
	// Cursor is the paging token of the last operation committed.
	Cursor    string `json:"cursor,omitempty"`
	Ledger    int64  `json:"ledger,omitempty"`
	Connected bool   `json:"connected"`
	// LatestLedger is Horizon's newest ledger at the last measurement.
	LatestLedger int64 `json:"latest_ledger,omitempty"`
	// LagLedgers and LagSeconds say how far the oldest operation not yet committed is behind
	// LatestLedger (0: caught up; -1: not measured yet).
	LagLedgers int64     `json:"lag_ledgers"`
	LagSeconds float64   `json:"lag_seconds"`
	MeasuredAt time.Time `json:"measured_at,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
}

// Report is the observer's state for /readyz and operators.
type Report struct {
	// Leader says whether this instance holds the lease and streams.
	Leader bool   `json:"leader"`
	Holder string `json:"holder"`
	// Lease is the lease row as stored (who leads, until when), if any.
	Lease    *Lease          `json:"lease,omitempty"`
	Accounts []AccountStatus `json:"accounts"`
}

// Status reports the observer's state; the lease is read from the database (the leader may
// be another instance).
func (o *Observer) Status(ctx context.Context) Report {
	o.mu.Lock()
	r := Report{Leader: o.leader, Holder: o.holder}
	for _, s := range o.state {
		r.Accounts = append(r.Accounts, *s)
	}
	o.mu.Unlock()
	slices.SortFunc(r.Accounts, func(a, b AccountStatus) int { return strings.Compare(a.Account, b.Account) })
	if l, ok, err := readLease(ctx, o.db); err == nil && ok {
		r.Lease = &l
	}
	return r
}

func (o *Observer) update(account string, fn func(*AccountStatus)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.state[account]; ok {
		fn(s)
	}
}

func (o *Observer) setLeader(v bool) {
	o.mu.Lock()
	o.leader = v
	o.mu.Unlock()
	if v {
		o.metrics.leader.Set(1)
	} else {
		o.metrics.leader.Set(0)
	}
}

type metrics struct {
	leader     prometheus.Gauge
	lagLedgers *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	payments   *prometheus.CounterVec
	reconnects prometheus.Counter
	replayed   prometheus.Counter
	delay      prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vaspgate_observer_leader",
			Help: "1 while this instance holds the payment observer's lease."}),
		lagLedgers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vaspgate_observer_lag_ledgers",
			Help: "Ledgers between Horizon's newest ledger and the oldest operation of the account not yet committed (0: caught up)."}, []string{"account"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vaspgate_observer_lag_seconds",
			Help: "Seconds between Horizon's newest ledger close and the oldest operation of the account not yet committed (0: caught up)."}, []string{"account"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaspgate_observer_payments_total",
			Help: "Payments observed, by result: matched, unmatched, outgoing, duplicate (seen before, nothing changed)."}, []string{"result"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "vaspgate_observer_reconnects_total",
			Help: "Horizon streams that ended and were reopened."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "vaspgate_observer_replayed_total",
			Help: "Operations Horizon sent again at or before the stored cursor (skipped)."}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vaspgate_observer_commit_delay_seconds",
			Help:    "From the ledger close of a payment to the commit of its observation.",
			Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 30, 60, 300}}),
	}
}

// collectors are the observer's metrics, for Options.Registerer.
func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.leader, m.lagLedgers, m.lagSeconds, m.payments, m.reconnects, m.replayed, m.delay}
}
