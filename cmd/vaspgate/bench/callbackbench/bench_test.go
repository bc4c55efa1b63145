package callbackbench

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

func TestBenchSmall(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, mode := range []struct {
			viaHTTP   bool
			signature string
		}{{false, SignatureStellar}, {true, SignatureStellar}, {true, SignatureStandardWebhooks}} {
			name := d.String()
			if mode.viaHTTP {
				name += " via HTTP"
			}
			name += " " + mode.signature
			t.Run(name, func(t *testing.T) {
				u := ""
				if d == store.Postgres {
					u = storetest.PostgresURL()
				}
				r, err := Run(context.Background(), Options{DatabaseURL: u, Events: 300, Subjects: 20, Receivers: 3, FailShare: 0.1,
					ViaHTTP: mode.viaHTTP, Signature: mode.signature})
				if err != nil {
					t.Fatal(err)
				}
				if r.Lost != 0 || r.OutOfOrder != 0 || r.BadSignatures != 0 || r.Failed503 == 0 || r.Duplicated != 0 {
					t.Fatalf("%+v", r)
				}
				t.Logf("%+v", r)
			})
		}
	}
}

// TestBenchInstancesAsProcesses: with InstanceCPU the engines are vaspgate processes in
// CPU-limited control groups, and the run still delivers every event once, in order, with
// its failures retried, and reports what the processes used.
func TestBenchInstancesAsProcesses(t *testing.T) {
	t.Parallel()
	for _, viaHTTP := range []bool{false, true} {
		t.Run(fmt.Sprintf("via HTTP %v", viaHTTP), func(t *testing.T) {
			t.Parallel()
			signature := SignatureStellar
			if viaHTTP {
				// The configured destinations, secrets included, reach the processes.
				signature = SignatureStandardWebhooks
			}
			r, err := Run(context.Background(), Options{DatabaseURL: storetest.PostgresURL(), Events: 300, Subjects: 20, Receivers: 3, FailShare: 0.1,
				Preload: !viaHTTP, ViaHTTP: viaHTTP, Signature: signature, Instances: 2, InstanceCPU: 0.5, Program: testkit.Binary(t)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Lost != 0 || r.OutOfOrder != 0 || r.BadSignatures != 0 || r.Failed503 == 0 || r.Duplicated != 0 {
				t.Fatalf("%+v", r)
			}
			if r.InstanceCPU != 0.5 || r.InstanceCPUMillis <= 0 {
				t.Fatalf("the instances' CPU was not measured: %+v", r)
			}
		})
	}
}

// TestBenchRefuses: configured destinations take messages through the publish API only, so
// the Standard Webhooks run refuses to record in process; an unknown scheme is refused;
// instances as processes need the program to run and a database they can share.
func TestBenchRefuses(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{Signature: SignatureStandardWebhooks}, {Signature: "hmac", ViaHTTP: true},
		{InstanceCPU: 1}, {InstanceCPU: 1, Program: "vaspgate"}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
}

func TestTrackerOrder(t *testing.T) {
	t.Parallel()
	// Events of one subject, by n (event i = n-1); acks lists the n acknowledged, in order.
	for _, tc := range []struct {
		name                string
		events              int
		acks                []int
		wantOOO, wantDup    int
		wantLost, wantAcked int
	}{
		{"in order", 4, []int{1, 2, 3, 4}, 0, 0, 0, 4},
		{"one overtaken", 4, []int{2, 1, 3, 4}, 1, 0, 0, 4},
		{"two overtaken by one", 4, []int{3, 1, 2, 4}, 1, 0, 0, 4},
		{"pairs reversed", 6, []int{2, 1, 4, 3, 6, 5}, 3, 0, 0, 6},
		{"last first", 4, []int{4, 1, 2, 3}, 1, 0, 0, 4},
		{"repeat", 3, []int{1, 1, 2, 3}, 0, 1, 0, 3},
		{"repeat after overtaking", 3, []int{2, 1, 2, 3}, 1, 1, 0, 3},
		{"gap never filled", 3, []int{1, 3}, 1, 0, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(tc.events, 1)
			for _, n := range tc.acks {
				tr.ack(eventBody(n-1, 0, n, 0), time.Now())
			}
			var r Result
			tr.fill(&r, time.Now())
			if r.OutOfOrder != tc.wantOOO || r.Duplicated != tc.wantDup || r.Lost != tc.wantLost || tr.acked != tc.wantAcked {
				t.Fatalf("out of order %d, dup %d, lost %d, acked %d; want %d, %d, %d, %d",
					r.OutOfOrder, r.Duplicated, r.Lost, tr.acked, tc.wantOOO, tc.wantDup, tc.wantLost, tc.wantAcked)
			}
		})
	}
}

func TestEventBody(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 10, 31, 40, 1024} {
		b := eventBody(12345, 67, 89, size)
		var m struct {
			I, S, N int
			Pad     string
		}
		if err := json.Unmarshal(b, &m); err != nil || m.I != 12345 || m.S != 67 || m.N != 89 {
			t.Fatalf("size %d: %s: %v %+v", size, b, err, m)
		}
		want := size
		if size < 35 { // too small for the padding field: the body as it is
			want = len(`{"i":12345,"s":67,"n":89}`)
		}
		if len(b) != want {
			t.Fatalf("size %d: %d bytes", size, len(b))
		}
	}
}
