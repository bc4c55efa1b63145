package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/observer/horizonsim"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
	"github.com/vaspgate/vaspgate/internal/travelrule/enclavesim"
)

// TestObservedPaymentKeepsTheTravelRuleHold plays, on both engines, the payment observer
// with the Travel Rule on (so the transfer gate is in place): a withdrawal the Travel Rule
// put on_hold (a HIGH KYT result on the verification linked at Verify User) receives its
// user's payment on the network, and stays on_hold with its hold not released — the
// payment is listed as unmatched with the reason — until the operator releases it; a
// withdrawal without a verification is matched through the same gate and moves to
// pending_anchor, leaving the hold alone.
func TestObservedPaymentKeepsTheTravelRuleHold(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			sim := horizonsim.New()
			defer sim.Close()
			enc := enclavesim.NewServer()
			t.Cleanup(enc.Close)
			o := startObserved(t, d, sim, keypair.MustRandom().Address(), func(c *config.Config) {
				enclaveConfig(c)
				c.TravelRule.Enclave.URL = enc.URL
			})
			enc.VASP = o.enclave()

			user := keypair.MustRandom()
			held, memo := o.withdrawal(t, user, "1500")
			u := "6b0e1f59-8c1b-4c3e-9d7a-0b1c2d3e4f01"
			req := enclavesim.UserRequest{VerificationUUID: u, Symbol: "USDC", Amount: "1500", Exceeding: true,
				Required: "NATURAL_PERSON_NAME,ACCOUNT_NUMBER", Originator: enclavesim.Name{Primary: "Din", Secondary: "James"},
				OriginatorAcct: keypair.MustRandom().Address(), Beneficiary: []enclavesim.Name{{Primary: "Lovelace", Secondary: "Ada"}},
				Address: o.dist + ":" + memo}
			if r, err := verifyUser(ctx, enc, req); err != nil || r.JSON()["result"] != "VERIFIED" {
				t.Fatalf("Verify User: %v %d %s", err, r.Status, r.Body)
			}
			wait.For(t, "the verification is linked", func() bool { return len(o.travelRuleOf(t, held)) == 1 })
			if r, err := enc.SendKYT(ctx, u, "HIGH"); err != nil || r.Status != 200 {
				t.Fatalf("KYT: %v %d", err, r.Status)
			}
			wait.For(t, "the withdrawal is on hold", func() bool { return o.platform(t, held).Status == "on_hold" })
			seq := o.platform(t, held).Sequence

			// The user pays: the observer sees it, and the hold stands.
			sub := o.pay(t, user, "1500", memo)
			wait.For(t, "the held withdrawal's payment is listed", func() bool {
				for _, p := range o.unmatched(t) {
					if p.OperationID == sub.OperationID {
						if !strings.Contains(p.Reason, held) || !strings.Contains(p.Reason, "on_hold") {
							t.Fatalf("unmatched reason %q", p.Reason)
						}
						return true
					}
				}
				return false
			})
			// A payment to a transaction that is not held goes through the same gate and
			// moves it; the observer is past the held one's payment once this one is in.
			free, memo2 := o.withdrawal(t, user, "20")
			o.pay(t, user, "20", memo2)
			wait.For(t, "the other withdrawal is matched", func() bool { return o.platform(t, free).Status == "pending_anchor" })
			if p := o.platform(t, held); p.Status != "on_hold" || p.Sequence != seq || len(p.StellarTxs) != 0 {
				t.Fatalf("the held withdrawal after its payment: %+v", p)
			}
			if tr := o.travelRuleOf(t, held); tr[0]["hold"] != "held" {
				t.Fatalf("travel_rule after the payment: %v", tr)
			}

			// The operator releases it with the payment the observer saw.
			enc.Incoming(u, sub.Hash)
			if r, err := enc.SendTxReport(ctx, u); err != nil || r.Status != 200 {
				t.Fatalf("TX_REPORT: %v %d", err, r.Status)
			}
			wait.For(t, "the TX_REPORT is folded in", func() bool { return o.travelRuleOf(t, held)[0]["tx_hash"] == sub.Hash })
			o.do(t, "POST", o.admin+"/admin/v1/travel-rule/holds/"+held+"/release", adminToken,
				map[string]string{"operator": "alice", "note": "checked"}, 200)
			if p := o.platform(t, held); p.Status != "pending_anchor" {
				t.Fatalf("released withdrawal: %+v", p)
			}
			if tr := o.travelRuleOf(t, held); tr[0]["hold"] != "released" {
				t.Fatalf("travel_rule after release: %v", tr)
			}
		})
	}
}
