package travelrule

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one Service's Prometheus metrics, registered on Options.Registerer (each test
// gets its own registry, or none).
type metrics struct {
	received, replayed, rejected *prometheus.CounterVec
	ack                          prometheus.Histogram
	updates, holds, releases     prometheus.Counter
	answers                      *prometheus.HistogramVec
	backlog                      prometheus.GaugeFunc
}

// newMetrics makes the metrics; backlog reads the spool's unreplayed records.
func newMetrics(reg prometheus.Registerer, backlog func() float64) (*metrics, error) {
	m := &metrics{
		backlog: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vaspgate_travel_rule_spool_backlog",
			Help: "Callbacks acknowledged from the spool and not yet stored in the database: on this instance's disk only until then.",
		}, backlog),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaspgate_travel_rule_callbacks_total",
			Help: "Enclave callbacks acknowledged, by callback type and outcome (new, duplicate, revision, spooled, quarantined).",
		}, []string{"type", "outcome"}),
		replayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaspgate_travel_rule_spool_replayed_total",
			Help: "Spooled callbacks replayed into the database, by outcome.",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaspgate_travel_rule_callbacks_rejected_total",
			Help: "Callback requests refused before storing (reason: missing_token, wrong_token, source_not_allowed, not_durable).",
		}, []string{"reason"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vaspgate_travel_rule_ack_seconds",
			Help:    "Time from request to acknowledgement of enclave callbacks.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vaspgate_travel_rule_verification_updates_total",
			Help: "Changes of verification records (each records a travel_rule.verification_updated event).",
		}),
		holds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vaspgate_travel_rule_holds_total",
			Help: "Withdrawals put on_hold because a linked verification's risk reached travel_rule.hold_at.",
		}),
		releases: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vaspgate_travel_rule_releases_total",
			Help: "Travel Rule holds released (by an operator or the business).",
		}),
		answers: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vaspgate_travel_rule_enclave_answer_seconds",
			Help:    "Time to answer the enclave's Verify User Account, Verify User and Check Transaction Status, by api, result and whether the answer was the timeout fallback.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, .75, 1, 2.5, 5},
		}, []string{"api", "result", "timed_out"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.received, m.replayed, m.rejected, m.ack, m.updates, m.holds, m.releases, m.answers, m.backlog} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("travelrule: register metrics: %w", err)
		}
	}
	return m, nil
}

// typeLabel bounds the label values to the known types.
func typeLabel(t string) string {
	switch t {
	case TypeVerificationResult, TypeTxReport, TypeErrorReport, TypeKYTResult, TypeWCOResult,
		TypeOwnerVerificationResult, TypeOwnerVerificationTx:
		return t
	}
	return "other"
}

func (m *metrics) stored(a Ack) {
	o := string(a.Outcome)
	if a.Problem != ProblemNone && a.Outcome == OutcomeNew {
		o = "quarantined"
	}
	m.received.WithLabelValues(typeLabel(a.Type), o).Inc()
}

func (m *metrics) answer(api, result string, late bool, seconds float64) {
	m.answers.WithLabelValues(api, result, strconv.FormatBool(late)).Observe(seconds)
}

// CountRejected counts a request refused before storing (the HTTP layer calls it).
func (s *Service) CountRejected(reason string) { s.metrics.rejected.WithLabelValues(reason).Inc() }

// ObserveAck records the acknowledgement latency of one callback.
func (s *Service) ObserveAck(seconds float64) { s.metrics.ack.Observe(seconds) }
