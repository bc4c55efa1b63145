package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
	"github.com/vaspgate/vaspgate/internal/travelrule/enclavesim"
	"github.com/vaspgate/vaspgate/test/sendinganchor"
)

// TestSEP31PaymentFromAnotherVASPHeldOnRisk plays vaspgate as the beneficiary VASP of a
// SEP-31 payment on both engines: the sending anchor's enclave asks Verify User about the
// anchor's account and the transaction's memo, the beneficiary checked is the transaction's
// receiver (its SEP-12 receiver type, its name: another name is DENIED), the verification is
// linked to the SEP-31 transaction, and a HIGH KYT result holds it. SEP-31 has no on_hold:
// the status the sending anchor sees stays pending_receiver, the business reads the hold on
// the transaction and every payout method is refused until the operator releases it; then
// the payment completes.
func TestSEP31PaymentFromAnotherVASPHeldOnRisk(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			sim := enclavesim.NewServer()
			t.Cleanup(sim.Close)
			anchor := keypair.MustRandom().Address()
			s := startWith(t, d, testkit.NewWallet(t), func(c *config.Config) {
				enclaveConfig(c)
				c.TravelRule.Enclave.URL = sim.URL
				c.Transfer.Assets[0].DistributionAccount = anchor
			})
			sim.VASP = s.enclave()

			sa := sendingAnchor(t, ctx, s)
			sender := acceptedCustomer(t, ctx, s, sa, "sep31-sender", map[string]string{"first_name": "James", "last_name": "Din", "email_address": "jd@example.com"})
			receiver := acceptedCustomer(t, ctx, s, sa, "sep31-receiver", map[string]string{"first_name": "Taylor", "last_name": "Robbins", "bank_account_number": "DE89370400440532013000"})
			created, err := sa.Send(ctx, sendinganchor.Payment{Amount: "1500", AssetCode: "USDC", FundingMethod: "SEPA",
				SenderID: sender, ReceiverID: receiver})
			if err != nil {
				t.Fatal(err)
			}
			if created.StellarAccountID != anchor {
				t.Fatalf("stellar_account_id %s, want %s", created.StellarAccountID, anchor)
			}

			// The beneficiary is the receiver: another name is refused.
			req := enclavesim.UserRequest{VerificationUUID: "6b0e1f59-8c1b-4c3e-9d7a-0b1c2d3e4f00", Symbol: "USDC", Amount: "1500", Exceeding: true,
				Required: "NATURAL_PERSON_NAME,ACCOUNT_NUMBER", Originator: enclavesim.Name{Primary: "Din", Secondary: "James"},
				OriginatorAcct: sa.Key.Address(), Beneficiary: []enclavesim.Name{{Primary: "Lovelace", Secondary: "Ada"}},
				Address: created.StellarAccountID + ":" + created.StellarMemo}
			if r, err := verifyUser(ctx, sim, req); err != nil || r.JSON()["result"] != "DENIED" || r.JSON()["reason"] != "MISMATCHED-NAME" {
				t.Fatalf("Verify User with another name than the receiver's: %v %s", err, r.Body)
			}
			u1 := "6b0e1f59-8c1b-4c3e-9d7a-0b1c2d3e4f01"
			req.VerificationUUID, req.Beneficiary = u1, []enclavesim.Name{{Primary: "Robbins", Secondary: "Taylor"}}
			if r, err := verifyUser(ctx, sim, req); err != nil || r.JSON()["result"] != "VERIFIED" {
				t.Fatalf("Verify User: %v %s", err, r.Body)
			}
			wait.For(t, "the verification is linked to the SEP-31 transaction", func() bool {
				tr := s.travelRuleOf(t, created.ID)
				return len(tr) >= 1 && tr[len(tr)-1]["verification_uuid"] == u1 && tr[len(tr)-1]["role"] == "beneficiary"
			})

			// The payment arrives; the enclave reports it with a HIGH KYT alert.
			h1 := "4f3e5c7b9a1d3f5e7c9b1a3d5f7e9c1b3a5d7f9e1c3b5a7d9f1e3c5b7a9d1f3e"
			s.rpc(t, "notify_onchain_funds_received", map[string]any{"transaction_id": created.ID, "stellar_transaction_id": h1})
			sim.Incoming(u1, h1)
			if r, err := sim.SendTxReport(ctx, u1); err != nil || r.Status != 200 {
				t.Fatalf("TX_REPORT: %v %d", err, r.Status)
			}
			if r, err := sim.SendKYT(ctx, u1, "HIGH"); err != nil || r.Status != 200 {
				t.Fatalf("KYT: %v %d", err, r.Status)
			}
			held := func() map[string]any {
				for _, v := range s.travelRuleOf(t, created.ID) {
					if v["verification_uuid"] == u1 {
						return v
					}
				}
				return nil
			}
			wait.For(t, "the SEP-31 transaction is held", func() bool { v := held(); return v != nil && v["hold"] == "held" })
			if v := held(); v["risk_level"] != "high" || v["tx_hash"] != h1 {
				t.Fatalf("travel_rule on the held transaction: %v", v)
			}
			if tx, err := sa.Transaction(ctx, created.ID); err != nil || tx.Status != "pending_receiver" {
				t.Fatalf("the sending anchor's view of the held transaction: %+v %v", tx, err)
			}
			for _, m := range []string{"notify_offchain_funds_pending", "notify_offchain_funds_sent"} {
				if _, msg := s.rpcCall(t, m, map[string]any{"transaction_id": created.ID, "external_transaction_id": "sepa-9"}); !strings.Contains(msg, "Travel Rule") {
					t.Fatalf("%s while held: error %q, want the Travel Rule hold", m, msg)
				}
			}

			// The operator releases it; the payout goes on.
			s.do(t, "POST", s.admin+"/admin/v1/travel-rule/holds/"+created.ID+"/release", adminToken,
				map[string]string{"operator": "alice", "note": "sender known, alert reviewed"}, 200)
			if v := held(); v["hold"] != "released" {
				t.Fatalf("travel_rule after release: %v", v)
			}
			if st := s.transaction(t, created.ID)["status"]; st != "pending_receiver" {
				t.Fatalf("status after release %v, want pending_receiver (unchanged)", st)
			}
			s.rpc(t, "notify_offchain_funds_sent", map[string]any{"transaction_id": created.ID, "external_transaction_id": "sepa-9"})
			if tx, err := sa.Transaction(ctx, created.ID); err != nil || tx.Status != "completed" {
				t.Fatalf("after the release: %+v %v", tx, err)
			}
		})
	}
}
