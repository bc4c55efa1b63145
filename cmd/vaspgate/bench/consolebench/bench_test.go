package consolebench_test

import (
	"context"
	"testing"

	"github.com/vaspgate/vaspgate/cmd/vaspgate/bench/consolebench"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestRunSmall runs the benchmark's short profile: the seed fits every page (each must
// list rows, or Run fails) and every page is timed. The full profile is
// `vaspgate bench console` (docs/benchmarks.md).
func TestRunSmall(t *testing.T) {
	t.Parallel()
	r, err := consolebench.Run(context.Background(), consolebench.Options{
		DatabaseURL: storetest.PostgresURL(), Deliveries: 5000, Customers: 500, Verifications: 60, AuditRows: 300, Requests: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Pages) < 15 {
		t.Fatalf("%d pages timed", len(r.Pages))
	}
	for _, p := range r.Pages {
		if !p.ServedRows || p.Requests != 3 || p.P99Millis <= 0 || p.P99Millis < p.P50Millis {
			t.Errorf("page %s: %+v", p.Name, p)
		}
	}
}
