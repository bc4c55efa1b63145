package callback

import (
	"context"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	rc := newReceiver(t)
	rc.setRespond(func(r received, _ http.Header) int {
		if r.Path == "/down" {
			return 500
		}
		return 200
	})
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.CircuitThreshold = 1
	clock := newFakeClock()
	eng := start(t, db, cfg, WithClock(clock.Now), WithRand(func() float64 { return 0.5 }))
	_ = eng
	cfg.Registerer = reg
	eng2, err := New(context.Background(), db, cfg, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/up", "/down"} {
		if err := db.InTx(context.Background(), func(tx *store.Tx) error {
			return eng.Outbox().Wallet(context.Background(), tx, rc.url(p), Message{EventID: p, Type: "t", Subject: "s", Body: []byte(`{}`)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "both attempted", func() bool {
		return deliveryOf(t, eng, "/up").Status == StatusDelivered && deliveryOf(t, eng, "/down").Attempts == 1
	})
	// eng2 only reports (it never ran): counters are per instance, gauges read the database.
	eng2.metrics.outcome(StatusDelivered)
	eng2.metrics.observe(attemptLog{result: Result{Outcome: Delivered}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	down := WalletEndpointID(rc.url("/down"))
	for key, want := range map[string]float64{
		"vaspgate_callback_pending,endpoint=" + down:                  1,
		"vaspgate_callback_open_circuits,state=open":                  1,
		"vaspgate_callback_deliveries_total,outcome=delivered":        1,
		"vaspgate_callback_attempt_duration_seconds,result=delivered": 1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
	if _, ok := got["vaspgate_callback_oldest_pending_age_seconds,endpoint="+down]; !ok {
		t.Errorf("no oldest pending age for %s", down)
	}
}
