package observer

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/observer/horizonsim"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// TestReportedHashesChecked reports deposits' Stellar transactions through
// notify_onchain_funds_sent on both engines: a hash on the ledger paying what the deposit says
// is verified and recorded at once; one paying another amount is flagged; one the ledger does
// not know yet is accepted, then recorded and verified when it appears; one that never
// appears is flagged as not found once the window has passed.
func TestReportedHashesChecked(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		asset := "stellar:USDC:" + r.issuer
		deposit := func() (transfer.Transaction, *keypair.Full) {
			user := keypair.MustRandom()
			now := time.Now()
			return r.stack.NewTransactionWith(t, transfer.KindDeposit, transfer.StatusPendingAnchor, func(tx *transfer.Transaction) {
				tx.Account, tx.AssetIssuer, tx.TransferReceivedAt = user.Address(), r.issuer, &now
				tx.AmountIn = &transfer.Amount{Amount: "100", Asset: "iso4217:USD"}
				tx.AmountOut = &transfer.Amount{Amount: "99", Asset: asset}
			}), user
		}
		send := func(t *testing.T, tx transfer.Transaction, hash string) transfer.Transaction {
			t.Helper()
			out, err := r.stack.Transfers.Apply(ctx, "notify_onchain_funds_sent", transfer.Params{TransactionID: tx.ID, StellarTransactionID: hash})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		check := func(t *testing.T, id string) transfer.HashCheck {
			t.Helper()
			list, err := r.stack.Transfers.HashChecks(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range list {
				if c.TransactionID == id {
					return c
				}
			}
			t.Fatalf("no check for %s", id)
			return transfer.HashCheck{}
		}

		good, user := deposit()
		sub := r.submit(t, horizonsim.Payment{From: r.dist, To: user.Address(), Asset: r.usdc, Amount: "99"})
		if out := send(t, good, sub.Hash); out.Status != transfer.StatusCompleted || out.StellarTransactions[0].Envelope != sub.Envelope {
			t.Fatalf("verified deposit %+v", out)
		}
		if c := check(t, good.ID); c.Status != transfer.HashVerified {
			t.Fatalf("check %+v, want verified", c)
		}

		short, user2 := deposit()
		sub = r.submit(t, horizonsim.Payment{From: r.dist, To: user2.Address(), Asset: r.usdc, Amount: "50"})
		send(t, short, sub.Hash)
		if c := check(t, short.ID); c.Status != transfer.HashMismatch || !strings.Contains(c.Detail, "expected 99") {
			t.Fatalf("check %+v, want mismatch", c)
		}

		late, user3 := deposit()
		r.sim.Hide(true)
		sub = r.submit(t, horizonsim.Payment{From: r.dist, To: user3.Address(), Asset: r.usdc, Amount: "99"})
		if out := send(t, late, sub.Hash); out.Status != transfer.StatusCompleted || out.StellarTransactions[0].Envelope != "" {
			t.Fatalf("deposit reported before its hash is known: %+v", out)
		}
		if c := check(t, late.ID); c.Status != transfer.HashPending {
			t.Fatalf("check %+v, want pending", c)
		}
		r.sim.Hide(false)
		// The next due lookup (2 s after the report) finds it.
		deadline := time.Now().Add(30 * time.Second)
		for check(t, late.ID).Status == transfer.HashPending {
			if time.Now().After(deadline) {
				t.Fatal("the late hash was never settled")
			}
			if _, err := r.stack.Transfers.CheckHashes(ctx, time.Hour, 10); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // waiting for the check's next_at
		}
		if c := check(t, late.ID); c.Status != transfer.HashVerified {
			t.Fatalf("late check %+v, want verified", c)
		}
		if tx, _ := r.stack.Transfers.Get(ctx, late.ID); tx.StellarTransactions[0].Envelope != sub.Envelope {
			t.Fatalf("the late transaction was not recorded: %+v", tx.StellarTransactions)
		}

		ghost, _ := deposit()
		send(t, ghost, strings.Repeat("ab", 32))
		if _, err := r.stack.Transfers.CheckHashes(ctx, 0, 10); err != nil {
			t.Fatal(err)
		}
		if c := check(t, ghost.ID); c.Status != transfer.HashNotFound {
			t.Fatalf("ghost check %+v, want not_found", c)
		}

		// The business hears of both flagged hashes, once each.
		flagged := map[string]int{}
		r.stack.Business.WaitEvents(t, 1, 30*time.Second)
		deadline = time.Now().Add(30 * time.Second)
		for flagged[short.ID] == 0 || flagged[ghost.ID] == 0 {
			clear(flagged)
			for _, raw := range r.stack.Business.Events() {
				var e struct {
					Type    string
					Payload struct {
						Check transfer.HashCheck `json:"stellar_transaction_check"`
					}
				}
				if json.Unmarshal(raw, &e) == nil && e.Type == transfer.EventStellarTransactionFlagged {
					flagged[e.Payload.Check.TransactionID]++
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("flag events %v", flagged)
			}
			time.Sleep(50 * time.Millisecond) // polling the business receiver
		}
		if len(flagged) != 2 || flagged[short.ID] != 1 || flagged[ghost.ID] != 1 {
			t.Fatalf("flag events %v, want one each for %s and %s", flagged, short.ID, ghost.ID)
		}
	})
}
