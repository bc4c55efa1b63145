package e2e

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/observer/horizonsim"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// observed is a vaspgate watching a simulated Horizon for payments to its distribution
// account.
type observed struct {
	*stack
	sim      *horizonsim.Sim
	dist     string
	issuer   string
	wallet   *testkit.Wallet
	business *testkit.Business
}

// observerConfig points vaspgate's observer at sim, watching dist, with short timings so
// that a test sees failovers and reconnections quickly.
func observerConfig(sim *horizonsim.Sim, dist string, issuer *string) func(*config.Config) {
	return func(c *config.Config) {
		c.Transfer.Assets[0].DistributionAccount = dist
		*issuer = c.Transfer.Assets[0].Issuer
		c.Observer = config.Observer{Enabled: true, HorizonURL: sim.URL(), StartCursor: "0", LeaseTTL: 2 * time.Second,
			LagInterval: 100 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	}
}

func startObserved(t *testing.T, d store.Dialect, sim *horizonsim.Sim, dist string, edit func(*config.Config)) *observed {
	t.Helper()
	return startObservedWith(t, d, testkit.NewWallet(t), testkit.NewBusiness(t), sim, dist, edit)
}

// startObservedWith is startObserved with the wallet w and the business server biz (which
// checks the events' API key), so that several instances share them.
func startObservedWith(t *testing.T, d store.Dialect, w *testkit.Wallet, biz *testkit.Business, sim *horizonsim.Sim, dist string, edit func(*config.Config)) *observed {
	t.Helper()
	o := &observed{sim: sim, dist: dist, wallet: w, business: biz}
	biz.RequireAuth(callback.Auth{Type: callback.AuthAPIKey, Secret: "business-api-key"})
	o.stack = startWith(t, d, w, func(c *config.Config) {
		observerConfig(sim, dist, &o.issuer)(c)
		c.Callback.Business.URL = biz.URL + "/event"
		c.Callback.Business.Auth = config.CallbackAuth{Type: config.AuthAPIKey, Secret: "business-api-key"}
		if edit != nil {
			edit(c)
		}
	})
	return o
}

// withdrawal makes an accepted customer's SEP-6 USDC withdrawal of amount and asks the user
// to pay it (request_onchain_funds): it returns the transaction id and the memo to pay with.
func (o *observed) withdrawal(t *testing.T, user *keypair.Full, amount string) (id, memo string) {
	t.Helper()
	token := o.login(t, user)
	_, b := o.do(t, "PUT", o.public+"/sep12/customer", token, map[string]string{"type": "sep6", "first_name": "Ada",
		"last_name": "Lovelace", "email_address": "ada@example.com"}, 202)
	var cust struct{ ID string }
	json.Unmarshal(b, &cust)
	o.do(t, "PUT", o.admin+"/admin/v1/customers/"+cust.ID+"/status", adminToken, map[string]any{"status": "ACCEPTED"}, 200)
	q := url.Values{"asset_code": {"USDC"}, "funding_method": {"SEPA"}, "amount": {amount},
		"on_change_callback": {o.wallet.URL + "/sep6"}}
	_, b = o.do(t, "GET", o.public+"/sep6/withdraw?"+q.Encode(), token, nil, 200)
	var wd struct {
		ID, AccountID, Memo, MemoType string
	}
	if err := json.Unmarshal(b, &struct {
		ID        *string `json:"id"`
		AccountID *string `json:"account_id"`
		Memo      *string `json:"memo"`
		MemoType  *string `json:"memo_type"`
	}{&wd.ID, &wd.AccountID, &wd.Memo, &wd.MemoType}); err != nil || wd.AccountID != o.dist || wd.MemoType != "id" {
		t.Fatalf("withdraw answer %s", b)
	}
	usdc := "stellar:USDC:" + o.issuer
	o.rpc(t, "request_onchain_funds", map[string]any{"transaction_id": wd.ID,
		"amount_in": map[string]any{"amount": amount, "asset": usdc}, "amount_out": map[string]any{"amount": amount, "asset": "iso4217:USD"},
		"fee_details": map[string]any{"total": "0", "asset": usdc}})
	return wd.ID, wd.Memo
}

// pay submits a USDC payment from user to the distribution account with an id memo.
func (o *observed) pay(t *testing.T, user *keypair.Full, amount, memo string) horizonsim.Submitted {
	t.Helper()
	id, err := strconv.ParseUint(memo, 10, 64)
	if err != nil {
		t.Fatalf("memo %q: %v", memo, err)
	}
	sub, err := o.sim.Submit(horizonsim.Payment{From: user, To: o.dist, Asset: txnbuild.CreditAsset{Code: "USDC", Issuer: o.issuer},
		Amount: amount, Memo: txnbuild.MemoID(id)})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// platformTx is the part of the business's transaction view the tests read.
type platformTx struct {
	Status             string
	Sequence           int64
	Message            string
	AmountIn           struct{ Amount, Asset string } `json:"amount_in"`
	TransferReceivedAt string                         `json:"transfer_received_at"`
	StellarTxs         []struct {
		ID       string
		Payments []struct{ ID, PaymentType string } `json:"payments"`
	} `json:"stellar_transactions"`
}

func (o *observed) platform(t *testing.T, id string) platformTx {
	t.Helper()
	var p platformTx
	b, _ := json.Marshal(o.transaction(t, id))
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// unmatched lists the observer's unmatched payments as operators see them.
func (s *stack) unmatched(t *testing.T) []observedPayment {
	t.Helper()
	return s.observedPayments(t, "matched=false")
}

// observedPayment is the part of an observed payment the tests read.
type observedPayment struct {
	OperationID   string `json:"operation_id"`
	Status        string
	Flag          string
	TransactionID string `json:"transaction_id"`
	Reason        string
	Memo          string
}

// observedPayments lists the observer's payments as operators see them (query: the admin
// API's filter, e.g. status=held).
func (s *stack) observedPayments(t *testing.T, query string) []observedPayment {
	t.Helper()
	_, b := s.do(t, "GET", s.admin+"/admin/v1/observer/payments?"+query, adminToken, nil, 200)
	var list struct{ Payments []observedPayment }
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	return list.Payments
}

// businessEvents are the business events received so far, by type.
func (o *observed) businessEvents(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, b := range o.business.Events() {
		var e struct {
			Type    string
			Payload map[string]any
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("business event %s: %v", b, err)
		}
		out[e.Type] = append(out[e.Type], e.Payload)
	}
	return out
}

// TestObservedWithdrawalMovesOnce is the observer's end-to-end proof on both engines: a
// SEP-6 withdrawal's payment, seen on the simulated network, moves the transaction to
// pending_anchor with amount_in, transfer_received_at and stellar_transactions, and the
// wallet and the business hear it once; streams that break mid-event and replay old
// operations change nothing more; a payment with an unknown memo is listed as unmatched
// and announced to the business.
func TestObservedWithdrawalMovesOnce(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			sim := horizonsim.New()
			defer sim.Close()
			o := startObserved(t, d, sim, keypair.MustRandom().Address(), nil)
			user := keypair.MustRandom()
			id, memo := o.withdrawal(t, user, "100")
			if p := o.platform(t, id); p.Status != "pending_user_transfer_start" {
				t.Fatalf("before the payment: %+v", p)
			}

			sub := o.pay(t, user, "100", memo)
			var p platformTx
			wait.For(t, "the withdrawal reaches pending_anchor", func() bool {
				p = o.platform(t, id)
				return p.Status == "pending_anchor"
			})
			if p.AmountIn.Amount != "100" || p.AmountIn.Asset != "stellar:USDC:"+o.issuer || p.Message != "" {
				t.Errorf("amount_in %+v, message %q", p.AmountIn, p.Message)
			}
			if got, _ := time.Parse(time.RFC3339Nano, p.TransferReceivedAt); !got.Equal(sub.ClosedAt) {
				t.Errorf("transfer_received_at %s, want the ledger close %s", p.TransferReceivedAt, sub.ClosedAt)
			}
			if len(p.StellarTxs) != 1 || p.StellarTxs[0].ID != sub.Hash || len(p.StellarTxs[0].Payments) != 1 ||
				p.StellarTxs[0].Payments[0].ID != sub.OperationID {
				t.Errorf("stellar_transactions %+v, want %s / %s", p.StellarTxs, sub.Hash, sub.OperationID)
			}
			seq := p.Sequence

			// Streams now break mid-event and replay what was already committed, while
			// payments with unknown memos arrive.
			sim.DropAfter(2)
			sim.Replay(1)
			streams := sim.Streams()
			sim.Break()
			// One at a time, each committed before the next, so that each arrives on a live
			// stream (a reconnection first catches up by pages, which would take several at
			// once).
			var strays []string
			for i := range 3 {
				strays = append(strays, o.pay(t, user, "5", strconv.Itoa(424242+i)).OperationID)
				wait.For(t, "the stray payment is listed as unmatched", func() bool { return len(o.unmatched(t)) == i+1 })
			}
			for _, u := range o.unmatched(t) {
				if !slices.Contains(strays, u.OperationID) || u.Reason == "" {
					t.Errorf("unmatched %+v, want one of %v with a reason", u, strays)
				}
			}
			// A stream is cut in the middle of its third event; the reconnection catches that
			// payment up by a page and streams from there: two cut streams for three payments.
			if n := sim.Streams() - streams; n < 2 {
				t.Errorf("%d streams after the break, want at least 2 (each cut mid-event)", n)
			}
			if p := o.platform(t, id); p.Sequence != seq || p.Status != "pending_anchor" {
				t.Errorf("after replays: sequence %d status %s, want %d pending_anchor", p.Sequence, p.Status, seq)
			}

			// The wallet heard each status change once; the business heard the transaction's
			// changes and the unmatched payment once.
			o.settled(t)
			var statuses []string
			for _, r := range o.wallet.Wait("/sep6", 2, 30*time.Second) {
				var c struct{ Transaction struct{ ID, Status string } }
				json.Unmarshal(r.Body, &c)
				statuses = append(statuses, c.Transaction.Status)
			}
			if len(statuses) != 2 || statuses[0] != "pending_user_transfer_start" || statuses[1] != "pending_anchor" {
				t.Errorf("wallet heard %v, want [pending_user_transfer_start pending_anchor]", statuses)
			}
			ev := o.businessEvents(t)
			if n := len(ev["stellar_payment_unmatched"]); n != 3 {
				t.Errorf("business heard %d unmatched payments, want 3", n)
			}
			received := 0
			for _, e := range ev["transaction_status_changed"] {
				if tx, _ := e["transaction"].(map[string]any); tx["id"] == id && tx["status"] == "pending_anchor" {
					received++
				}
			}
			if received != 1 {
				t.Errorf("business heard the withdrawal reach pending_anchor %d times, want 1", received)
			}
		})
	}
}

// leader is the observer status's lease holder as an instance's admin API reports it.
func (s *stack) observerStatus(t *testing.T) (leader bool, holder string) {
	t.Helper()
	_, b := s.do(t, "GET", s.admin+"/admin/v1/observer/status", adminToken, nil, 200)
	var st struct {
		Leader bool
		Holder string
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.Leader, st.Holder
}

// TestObserverFailoverAndRestart runs two vaspgate instances on one database (both engines)
// watching the same account: one leads; a payment is committed once; the leader stops and
// the other takes over from the stored cursor in time for the next payment; both stop, a
// payment is made while nothing runs, and a third instance started on the database commits
// it. Every withdrawal reaches pending_anchor once and its wallet hears it once.
func TestObserverFailoverAndRestart(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			sim := horizonsim.New()
			defer sim.Close()
			dist := keypair.MustRandom().Address()
			// One wallet and one business server for the three instances; each instance signs
			// with its own random seed, and the wallet trusts each key from its stellar.toml.
			w, biz := testkit.NewWallet(t), testkit.NewBusiness(t)
			a := startObservedWith(t, d, w, biz, sim, dist, nil)
			same := func(c *config.Config) { c.DatabaseURL = a.app.Config.DatabaseURL }
			b := startObservedWith(t, d, w, biz, sim, dist, same)

			user := keypair.MustRandom()
			pays := func(o *observed, id, memo string) {
				t.Helper()
				o.pay(t, user, "100", memo)
				wait.For(t, "withdrawal "+id+" reaches pending_anchor", func() bool { return o.platform(t, id).Status == "pending_anchor" })
			}
			id1, memo1 := a.withdrawal(t, user, "100")
			wait.For(t, "one instance leads", func() bool {
				la, _ := a.observerStatus(t)
				lb, _ := b.observerStatus(t)
				return la != lb
			})
			pays(a, id1, memo1)

			// The leader stops; the other takes over and commits the next payment.
			leader, other := a, b
			if l, _ := b.observerStatus(t); l {
				leader, other = b, a
			}
			id2, memo2 := other.withdrawal(t, keypair.MustRandom(), "100")
			leader.stop()
			pays(other, id2, memo2)
			if l, _ := other.observerStatus(t); !l {
				t.Fatal("the remaining instance does not lead")
			}

			// Nothing runs while the third payment is made; a new instance resumes.
			id3, memo3 := other.withdrawal(t, keypair.MustRandom(), "100")
			other.stop()
			c := startObservedWith(t, d, w, biz, sim, dist, same)
			other.pay(t, user, "100", memo3) // in the asset other made the withdrawal in
			wait.For(t, "withdrawal "+id3+" reaches pending_anchor", func() bool { return c.platform(t, id3).Status == "pending_anchor" })

			for _, id := range []string{id1, id2, id3} {
				if p := c.platform(t, id); p.Status != "pending_anchor" || len(p.StellarTxs) != 1 {
					t.Errorf("%s: %+v", id, p)
				}
			}
			c.settled(t)
			got := map[string][]string{}
			for _, r := range w.Wait("/sep6", 6, 30*time.Second) {
				var cb struct{ Transaction struct{ ID, Status string } }
				json.Unmarshal(r.Body, &cb)
				got[cb.Transaction.ID] = append(got[cb.Transaction.ID], cb.Transaction.Status)
			}
			for _, id := range []string{id1, id2, id3} {
				if s := got[id]; len(s) != 2 || s[0] != "pending_user_transfer_start" || s[1] != "pending_anchor" {
					t.Errorf("wallet heard %s: %v, want [pending_user_transfer_start pending_anchor]", id, s)
				}
			}
		})
	}
}
