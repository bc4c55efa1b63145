package rpcbench

import (
	"context"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

func TestBenchSmall(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", storetest.PostgresURL()} {
		r, err := Run(context.Background(), Options{DatabaseURL: u, Transactions: 50, Concurrency: 4, Duration: 500 * time.Millisecond, Rate: 50})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if r.Calls == 0 || r.Errors != 0 || r.CallbacksMissing != 0 {
			t.Fatalf("%s: %+v", u, r)
		}
		t.Logf("%s: %.0f calls/s, callback p99 %.1f ms", r.Engine, r.PerSecond, r.CallbackP99Millis)
	}
}

// The SEP-31 mix: every call moves a receive transaction and its callback reaches the
// sending anchor.
func TestBenchSmallSEP31(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", storetest.PostgresURL()} {
		r, err := Run(context.Background(), Options{DatabaseURL: u, Method: "sep31", Transactions: 50, Concurrency: 4, Duration: 500 * time.Millisecond, Rate: 50})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if r.Calls == 0 || r.Errors != 0 || r.CallbacksMissing != 0 {
			t.Fatalf("%s: %+v", u, r)
		}
	}
}
