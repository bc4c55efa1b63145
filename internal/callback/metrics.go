package callback

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/store"
)

// metrics are the engine's Prometheus series. Depth, age and circuits are read from the
// database at scrape time, so every instance reports the shared truth.
type metrics struct {
	e        *Engine
	outcomes *prometheus.CounterVec
	attempts *prometheus.HistogramVec
	refused  *prometheus.CounterVec

	pending *prometheus.Desc
	oldest  *prometheus.Desc
	open    *prometheus.Desc
}

func newMetrics(e *Engine, reg prometheus.Registerer) *metrics {
	m := &metrics{
		e: e,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaspgate_callback_deliveries_total",
			Help: "Attempts recorded, by what they did to the delivery: delivered, retry (rescheduled), failed (dead letter).",
		}, []string{"outcome"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vaspgate_callback_attempt_duration_seconds",
			Help:    "Duration of one HTTP attempt, by classification.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaspgate_callback_refused_destinations_total",
			Help: "Attempts the SSRF guard refused to dial, by scope: internal (business endpoint, configured clients) or wallet (registered URLs).",
		}, []string{"scope"}),
		pending: prometheus.NewDesc("vaspgate_callback_pending",
			"Deliveries waiting to be sent (pending or queued, including paused ones of disabled endpoints), per endpoint.", []string{"endpoint"}, nil),
		oldest: prometheus.NewDesc("vaspgate_callback_oldest_pending_age_seconds",
			"Age of the oldest delivery waiting to be sent, per endpoint.", []string{"endpoint"}, nil),
		open: prometheus.NewDesc("vaspgate_callback_open_circuits",
			"Endpoints whose circuit is open (paused after consecutive failures) or that are disabled.", []string{"state"}, nil),
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.attempts, m.refused, m)
	}
	return m
}

func (m *metrics) observe(a attemptLog) {
	m.attempts.WithLabelValues(a.result.Outcome.String()).Observe(a.duration.Seconds())
}

func (m *metrics) refusedDestination(scope string) {
	m.refused.WithLabelValues(scope).Inc()
}

func (m *metrics) outcome(status string) {
	label := status
	if status == StatusPending {
		label = "retry"
	}
	m.outcomes.WithLabelValues(label).Inc()
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.pending
	ch <- m.oldest
	ch <- m.open
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := m.e.now()
	depth, open, disabled, err := m.e.q.depth(ctx, store.Micros(now))
	if err != nil {
		m.e.log.Warn("metrics: read queue depth", "err", err)
	}
	for _, d := range depth {
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(d.n), d.endpointID)
		ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, now.Sub(store.FromMicros(d.oldest)).Seconds(), d.endpointID)
	}
	ch <- prometheus.MustNewConstMetric(m.open, prometheus.GaugeValue, float64(open), "open")
	ch <- prometheus.MustNewConstMetric(m.open, prometheus.GaugeValue, float64(disabled), "disabled")
}
