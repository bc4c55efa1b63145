package travelrule

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	metricReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaspgate_travel_rule_callbacks_total",
		Help: "Enclave callbacks acknowledged, by callback type and outcome (new, duplicate, revision, spooled, quarantined).",
	}, []string{"type", "outcome"})
	metricReplayed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaspgate_travel_rule_spool_replayed_total",
		Help: "Spooled callbacks replayed into the database, by outcome.",
	}, []string{"outcome"})
	metricRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaspgate_travel_rule_callbacks_rejected_total",
		Help: "Callback requests refused before storing (reason: missing_token, wrong_token, source_not_allowed, not_durable).",
	}, []string{"reason"})
	metricAckSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vaspgate_travel_rule_ack_seconds",
		Help:    "Time from request to acknowledgement of enclave callbacks.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	metricVerificationUpdates = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vaspgate_travel_rule_verification_updates_total",
		Help: "Changes of verification records (each records a travel_rule.verification_updated event).",
	})
	metricHolds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vaspgate_travel_rule_holds_total",
		Help: "Withdrawals put on_hold because a linked verification's risk reached travel_rule.hold_at.",
	})
	metricReleases = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vaspgate_travel_rule_releases_total",
		Help: "Travel Rule holds released (by an operator or the business).",
	})
)

// Collectors returns the package's Prometheus metrics, for the server to register.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricReceived, metricReplayed, metricRejected, metricAckSeconds, metricVerificationUpdates, metricAnswers,
		metricHolds, metricReleases}
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

func countStored(a Ack) {
	o := string(a.Outcome)
	if a.Problem != ProblemNone && a.Outcome == OutcomeNew {
		o = "quarantined"
	}
	metricReceived.WithLabelValues(typeLabel(a.Type), o).Inc()
}

func countReplayed(o Outcome) { metricReplayed.WithLabelValues(string(o)).Inc() }

// CountRejected counts a request refused before storing (the HTTP layer calls it).
func CountRejected(reason string) { metricRejected.WithLabelValues(reason).Inc() }

// ObserveAck records the acknowledgement latency of one callback.
func ObserveAck(seconds float64) { metricAckSeconds.Observe(seconds) }

var metricAnswers = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "vaspgate_travel_rule_enclave_answer_seconds",
	Help:    "Time to answer the enclave's Verify User Account, Verify User and Check Transaction Status, by api, result and whether the answer was the timeout fallback.",
	Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, .75, 1, 2.5, 5},
}, []string{"api", "result", "timed_out"})

func observeAnswer(api, result string, late bool, seconds float64) {
	metricAnswers.WithLabelValues(api, result, strconv.FormatBool(late)).Observe(seconds)
}
