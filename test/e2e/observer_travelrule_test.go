package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

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
// payment is kept for it (status held, flag held, announced once) — until the operator
// releases it: the release applies that payment as the observer would have (no TX_REPORT
// needed: amount_in, transfer_received_at at the ledger's close, stellar_transactions, the
// wallet and the business hear pending_anchor once), exactly once. Another held withdrawal
// whose verification then ends DENIED has its kept payment given up: listed unmatched
// (flag held, naming it) and announced again; it stays on_hold. A held withdrawal the
// business takes out of on_hold with the payment's hash has its kept payment matched; one it
// ends in error has it given up. A withdrawal without a
// verification is matched through the same gate and moves to pending_anchor, leaving the
// hold alone.
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

			// The user pays: the observer sees it, keeps it for the withdrawal, and the hold
			// stands.
			sub := o.pay(t, user, "1500", memo)
			wait.For(t, "the held withdrawal's payment is kept", func() bool { return len(o.observedPayments(t, "status=held")) == 1 })
			if p := o.observedPayments(t, "status=held")[0]; p.OperationID != sub.OperationID || p.TransactionID != held ||
				p.Flag != "held" || !strings.Contains(p.Reason, "on_hold") {
				t.Fatalf("held payment %+v", p)
			}
			if u := o.unmatched(t); len(u) != 0 {
				t.Fatalf("unmatched payments %+v, want none (the held one is kept for its transaction)", u)
			}
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

			// The operator releases it (no TX_REPORT came): the kept payment is applied.
			o.do(t, "POST", o.admin+"/admin/v1/travel-rule/holds/"+held+"/release", adminToken,
				map[string]string{"operator": "alice", "note": "checked"}, 200)
			p := o.platform(t, held)
			if p.Status != "pending_anchor" || p.AmountIn.Amount != "1500" || p.AmountIn.Asset != "stellar:USDC:"+o.issuer ||
				!strings.Contains(p.Message, "Travel Rule hold released by the operator: checked") {
				t.Fatalf("released withdrawal: %+v", p)
			}
			if got, _ := time.Parse(time.RFC3339Nano, p.TransferReceivedAt); !got.Equal(sub.ClosedAt) {
				t.Errorf("transfer_received_at %s, want the ledger close %s", p.TransferReceivedAt, sub.ClosedAt)
			}
			if len(p.StellarTxs) != 1 || p.StellarTxs[0].ID != sub.Hash || len(p.StellarTxs[0].Payments) != 1 ||
				p.StellarTxs[0].Payments[0].ID != sub.OperationID {
				t.Errorf("stellar_transactions %+v, want %s / %s", p.StellarTxs, sub.Hash, sub.OperationID)
			}
			if tr := o.travelRuleOf(t, held); tr[0]["hold"] != "released" {
				t.Fatalf("travel_rule after release: %v", tr)
			}
			if h := o.observedPayments(t, "status=held"); len(h) != 0 {
				t.Errorf("held payments after the release: %+v", h)
			}
			matched := false
			for _, m := range o.observedPayments(t, "status=matched") {
				matched = matched || (m.OperationID == sub.OperationID && m.TransactionID == held && m.Flag == "")
			}
			if !matched {
				t.Errorf("the applied payment is not listed as matched to %s: %+v", held, o.observedPayments(t, "status=matched"))
			}
			// A second release finds no hold and changes nothing.
			o.do(t, "POST", o.admin+"/admin/v1/travel-rule/holds/"+held+"/release", adminToken,
				map[string]string{"operator": "alice"}, 404)
			if q := o.platform(t, held); q.Sequence != p.Sequence {
				t.Errorf("a second release changed the withdrawal: %+v", q)
			}

			// Another withdrawal is held the same way and paid; its verification then ends
			// DENIED: the kept payment is given up (unmatched, flag held, naming the
			// withdrawal, the reason saying DENIED) and announced; the withdrawal stays on_hold.
			denied, memo3 := o.withdrawal(t, user, "1600")
			u2 := "6b0e1f59-8c1b-4c3e-9d7a-0b1c2d3e4f02"
			req.VerificationUUID, req.Amount, req.Address = u2, "1600", o.dist+":"+memo3
			if r, err := verifyUser(ctx, enc, req); err != nil || r.JSON()["result"] != "VERIFIED" {
				t.Fatalf("Verify User: %v %d %s", err, r.Status, r.Body)
			}
			wait.For(t, "the second verification is linked", func() bool { return len(o.travelRuleOf(t, denied)) == 1 })
			if r, err := enc.SendKYT(ctx, u2, "HIGH"); err != nil || r.Status != 200 {
				t.Fatalf("KYT: %v %d", err, r.Status)
			}
			wait.For(t, "the second withdrawal is on hold", func() bool { return o.platform(t, denied).Status == "on_hold" })
			sub3 := o.pay(t, user, "1600", memo3)
			wait.For(t, "the second payment is kept", func() bool { return len(o.observedPayments(t, "status=held")) == 1 })
			enc.Conclude(u2, enclavesim.Result{Result: "DENIED", Reason: "BLACKLISTED", Message: "sanctioned"})
			if r, err := enc.Send(ctx, u2); err != nil || r.Status != 200 {
				t.Fatalf("VERIFICATION_RESULT: %v %d", err, r.Status)
			}
			wait.For(t, "the denied withdrawal's payment is given up", func() bool { return len(o.unmatched(t)) == 1 })
			if u := o.unmatched(t)[0]; u.OperationID != sub3.OperationID || u.TransactionID != denied || u.Flag != "held" ||
				!strings.Contains(u.Reason, "DENIED") {
				t.Errorf("given-up payment %+v", u)
			}
			if h := o.observedPayments(t, "status=held"); len(h) != 0 {
				t.Errorf("held payments after DENIED: %+v", h)
			}
			if p := o.platform(t, denied); p.Status != "on_hold" || len(p.StellarTxs) != 0 {
				t.Errorf("the denied withdrawal: %+v", p)
			}

			// A third held withdrawal the business takes out of on_hold itself with the
			// payment's hash: the kept payment is the one it recorded (matched, not announced
			// again); another the business ends with an error gives its kept payment up.
			biz, memo4 := o.withdrawal(t, user, "1700")
			ended, memo5 := o.withdrawal(t, user, "1800")
			for i, w := range []struct{ id, memo, amount string }{{biz, memo4, "1700"}, {ended, memo5, "1800"}} {
				v := "6b0e1f59-8c1b-4c3e-9d7a-0b1c2d3e4f1" + strconv.Itoa(i)
				req.VerificationUUID, req.Amount, req.Address = v, w.amount, o.dist+":"+w.memo
				if r, err := verifyUser(ctx, enc, req); err != nil || r.JSON()["result"] != "VERIFIED" {
					t.Fatalf("Verify User: %v %d %s", err, r.Status, r.Body)
				}
				wait.For(t, "the verification is linked", func() bool { return len(o.travelRuleOf(t, w.id)) == 1 })
				if r, err := enc.SendKYT(ctx, v, "HIGH"); err != nil || r.Status != 200 {
					t.Fatalf("KYT: %v %d", err, r.Status)
				}
				wait.For(t, "the withdrawal is on hold", func() bool { return o.platform(t, w.id).Status == "on_hold" })
			}
			sub4 := o.pay(t, user, "1700", memo4)
			sub5 := o.pay(t, user, "1800", memo5)
			wait.For(t, "both payments are kept", func() bool { return len(o.observedPayments(t, "status=held")) == 2 })
			o.rpc(t, "notify_onchain_funds_received", map[string]any{"transaction_id": biz, "stellar_transaction_id": sub4.Hash,
				"amount_in": map[string]any{"amount": "1700"}})
			o.rpc(t, "notify_transaction_error", map[string]any{"transaction_id": ended, "message": "refused"})
			wait.For(t, "the kept payments are settled", func() bool { return len(o.observedPayments(t, "status=held")) == 0 })
			for _, m := range o.observedPayments(t, "") {
				switch m.OperationID {
				case sub4.OperationID:
					if m.Status != "matched" || m.TransactionID != biz || m.Flag != "" {
						t.Errorf("payment the business recorded: %+v", m)
					}
				case sub5.OperationID:
					if m.Status != "unmatched" || m.TransactionID != ended || m.Flag != "held" || !strings.Contains(m.Reason, "notify_transaction_error") {
						t.Errorf("payment of the withdrawal ended in error: %+v", m)
					}
				}
			}

			// The business heard each payment kept once, the given-up ones again, and the
			// released withdrawal's pending_anchor once.
			o.settled(t)
			ev := o.businessEvents(t)
			if n := len(ev["stellar_payment_unmatched"]); n != 6 {
				t.Errorf("business heard %d unmatched/held payments, want 6 (four kept, two given up)", n)
			}
			received := 0
			for _, e := range ev["transaction_status_changed"] {
				if tx, _ := e["transaction"].(map[string]any); tx["id"] == held && tx["status"] == "pending_anchor" {
					received++
				}
			}
			if received != 1 {
				t.Errorf("business heard the released withdrawal reach pending_anchor %d times, want 1", received)
			}
		})
	}
}
