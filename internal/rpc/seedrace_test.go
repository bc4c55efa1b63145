package rpc_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

const waitFor = 20 * time.Second

func customerStatuses(t *testing.T, got []testkit.Received) []string {
	t.Helper()
	var out []string
	for _, r := range got {
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("sep12 callback body %s: %v", r.Body, err)
		}
		st, _ := m["status"].(string)
		out = append(out, st)
	}
	return out
}

func transactionStatuses(t *testing.T, got []testkit.Received) []string {
	t.Helper()
	var out []string
	for _, r := range got {
		var b struct {
			Transaction struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"transaction"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil || b.Transaction.ID == "" {
			t.Fatalf("sep6 callback body %s: %v", r.Body, err)
		}
		out = append(out, b.Transaction.Status)
	}
	return out
}

func countDeliveries(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM callback_deliveries d JOIN callback_endpoints e ON e.id = d.endpoint_id WHERE e.kind = 'wallet'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSeedRace is the race of ANCHOR-746 (spec/seed-sep12-customer-callback.txt): the
// business reports NEEDS_INFO, PROCESSING and ACCEPTED in quick succession. The wallet must
// see every customer status, in order, and the transaction's moves, each callback signed;
// identical repeats send nothing; a wallet that is down during the burst gets everything,
// in order, when it comes back.
func TestSeedRace(t *testing.T) {
	t.Parallel()
	for _, walletDown := range []bool{false, true} {
		name := "wallet_up"
		if walletDown {
			name = "wallet_down_during_burst"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				t.Parallel()
				seedRace(t, db, walletDown)
			})
		})
	}
}

func seedRace(t *testing.T, db *store.DB, walletDown bool) {
	ctx := context.Background()
	s := rpctest.New(t, db, rpctest.Options{})
	txn := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusIncomplete)

	// The wallet asks for the customer of the transaction (SEP-12 GET /customer?transaction_id),
	// which makes the customer known as the wallet user's.
	s.Business.SetCustomer(kyc.Customer{ID: "cust-1", Status: kyc.StatusNeedsInfo}, s.User.Account, "")
	if _, err := s.KYC.Get(ctx, wallet.Identity{Account: s.User.Account}, kyc.Query{TransactionID: txn.ID, Type: "sep6"}); err != nil {
		t.Fatalf("wallet GET /customer: %v", err)
	}
	if walletDown {
		s.Wallet.SetDown(true)
	}

	report := func(status string) {
		t.Helper()
		s.Business.SetCustomer(kyc.Customer{ID: "cust-1", Status: status}, s.User.Account, "")
		res := s.Do(t, "notify_customer_info_updated", map[string]any{
			"transaction_id": txn.ID, "customer_id": "cust-1", "customer_type": "sep6"})
		if res.Error != nil {
			t.Fatalf("notify_customer_info_updated(%s): %+v", status, res.Error)
		}
	}
	for _, st := range []string{kyc.StatusNeedsInfo, kyc.StatusProcessing, kyc.StatusAccepted} {
		report(st)
	}
	// Identical reports change nothing and record nothing.
	before := countDeliveries(t, db)
	report(kyc.StatusAccepted)
	report(kyc.StatusAccepted)
	if after := countDeliveries(t, db); after != before {
		t.Fatalf("repeated identical reports recorded %d new wallet callbacks", after-before)
	}
	if before != 5 {
		t.Fatalf("recorded %d wallet callbacks, want 5 (3 SEP-12, 2 SEP-6)", before)
	}

	if walletDown {
		// Wait until the engine has actually failed against the down wallet, then bring it back.
		deadline := time.Now().Add(waitFor)
		for {
			var failed int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM callback_attempts WHERE status_code = 503").Scan(&failed); err != nil {
				t.Fatal(err)
			}
			if failed > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no failed attempt against the down wallet")
			}
			time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
		}
		if n := len(s.Wallet.Got("")); n != 0 {
			t.Fatalf("down wallet recorded %d callbacks", n)
		}
		s.Wallet.SetDown(false)
	}

	if got, want := customerStatuses(t, s.Wallet.Wait("/sep12", 3, waitFor)), []string{"NEEDS_INFO", "PROCESSING", "ACCEPTED"}; !slices.Equal(got, want) {
		t.Errorf("SEP-12 callbacks = %v, want %v", got, want)
	}
	if got, want := transactionStatuses(t, s.Wallet.Wait("/sep6", 2, waitFor)), []string{"pending_customer_info_update", "pending_anchor"}; !slices.Equal(got, want) {
		t.Errorf("SEP-6 callbacks = %v, want %v", got, want)
	}
	cur, err := s.Transfers.Get(ctx, txn.ID)
	if err != nil || cur.Status != transfer.StatusPendingAnchor {
		t.Fatalf("transaction = %v, %v; want pending_anchor", cur.Status, err)
	}
	// Business events: transaction_created, 2 x transaction_status_changed, 3 x customer_updated.
	evs := s.Business.WaitEvents(t, 6, waitFor)
	counts := map[string]int{}
	for _, e := range evs {
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(e, &ev)
		counts[ev.Type]++
	}
	if counts["transaction_created"] != 1 || counts["transaction_status_changed"] != 2 || counts["customer_updated"] != 3 {
		t.Errorf("business events = %v", counts)
	}
}
