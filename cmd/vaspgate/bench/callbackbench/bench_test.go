package callbackbench

import (
	"context"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

func TestBenchSmall(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, viaHTTP := range []bool{false, true} {
			name := d.String()
			if viaHTTP {
				name += " via HTTP"
			}
			t.Run(name, func(t *testing.T) {
				u := ""
				if d == store.Postgres {
					u = storetest.PostgresURL()
				}
				r, err := Run(context.Background(), Options{DatabaseURL: u, Events: 300, Subjects: 20, Receivers: 3, FailShare: 0.1, ViaHTTP: viaHTTP})
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
