package kyc_test

import (
	"context"
	"fmt"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"sync"
	"testing"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestRecordStatusConcurrent races status reports for customers without a snapshot yet
// (the first-snapshot path) and with one: every report that says "changed" advanced the
// snapshot's sequence by exactly one, so the stored sequence equals the number of changes,
// and a repeat of the stored status changes nothing.
func TestRecordStatusConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key, _ := seal.ParseKey(seal.NewKey())
		ring, _ := seal.New(key)
		engine, err := callback.New(ctx, db, testkit.CallbackOptions())
		if err != nil {
			t.Fatal(err)
		}
		svc, err := kyc.New(testkit.KYCOptions(kyc.Options{
			Types: map[string]kyc.CustomerType{"sep6": {}},
			DB:    db, Sealer: ring, Outbox: engine.Outbox(),
		}))
		if err != nil {
			t.Fatal(err)
		}
		statuses := []string{kyc.StatusNeedsInfo, kyc.StatusProcessing}
		for round := range 3 {
			id := fmt.Sprintf("cust-%d", round)
			var mu sync.Mutex
			changes := 0
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := kyc.Customer{ID: id, Type: "sep6", Status: statuses[i%2]}
					var changed bool
					err := db.InTx(ctx, func(tx *store.Tx) error {
						var err error
						changed, err = svc.RecordStatus(ctx, tx, c, "")
						return err
					})
					if err != nil {
						t.Errorf("record %s: %v", c.Status, err)
						return
					}
					if changed {
						mu.Lock()
						changes++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			var status string
			var seq int
			if err := db.QueryRowContext(ctx, `SELECT status, sequence FROM kyc_snapshots WHERE customer_id = ? AND type = ?`,
				id, "sep6").Scan(&status, &seq); err != nil {
				t.Fatal(err)
			}
			if seq != changes || changes < 1 {
				t.Fatalf("%s: sequence %d after %d reported changes", id, seq, changes)
			}
			err := db.InTx(ctx, func(tx *store.Tx) error {
				changed, err := svc.RecordStatus(ctx, tx, kyc.Customer{ID: id, Type: "sep6", Status: status}, "")
				if err == nil && changed {
					t.Errorf("%s: repeating %s reported a change", id, status)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
