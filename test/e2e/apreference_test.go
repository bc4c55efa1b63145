package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
	"github.com/vaspgate/vaspgate/test/apreference"
)

// TestAnchorPlatformReferenceServer: Anchor Platform 4.3.0's reference business server
// (test/apreference, simulated from its source), pointed at vaspgate instead of the
// platform with nothing else changed, runs a SEP-6 deposit and a SEP-6 withdrawal to the
// end from vaspgate's events alone: it reads every event and every transaction vaspgate
// gives it without a missing field or a type it cannot read, every call it makes (JSON-RPC
// at the root with its polymorphic params, GET /transactions/{id}, GET /transactions with
// its enum spellings, PATCH /transactions, with its JWT) is accepted, and the withdrawal
// whose customer still lacks fields waits for them and goes on once the wallet sends them.
func TestAnchorPlatformReferenceServer(t *testing.T) {
	t.Parallel()
	const (
		toPlatform   = "anchor-to-platform-secret-0123456789abcdef"
		fromPlatform = "platform-to-anchor-secret-0123456789abcdef"
	)
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			sim := apreference.New(apreference.Options{ToPlatformSecret: toPlatform, FromPlatformSecret: fromPlatform})
			t.Cleanup(sim.Close)
			s := startWith(t, d, testkit.NewWallet(t), func(c *config.Config) {
				auth := config.CallbackAuth{Type: config.AuthJWT, Secret: fromPlatform}
				c.KYC.Backend = config.KYCBusiness
				c.KYC.Business.BaseURL, c.KYC.Business.Auth = sim.URL, auth
				c.Callback.Business.URL, c.Callback.Business.Format, c.Callback.Business.Auth = sim.URL+"/event", config.EnvelopeAnchorPlatform, auth
				c.RPC.Auth.Type, c.RPC.Auth.Secret = config.AuthJWT, toPlatform
				c.Transfer.RequestKYC = config.RequestKYCAnchorPlatform
				// As Anchor Platform's assets configuration has it: withdrawals are paid there.
				c.Transfer.Assets[0].DistributionAccount = keypair.MustRandom().Address()
			})
			sim.SetPlatform(s.admin)
			t.Cleanup(func() {
				if !t.Failed() {
					return
				}
				for _, e := range sim.Events() {
					t.Logf("event %s %s %s", e.Type, e.TransactionID, e.Status)
				}
				for _, c := range sim.Calls() {
					t.Logf("call %s %s %s = %d %.300s", c.Method, c.Path, c.RPCMethod, c.Status, c.Body)
				}
				t.Logf("problems: %v", sim.Problems())
			})
			status := func(id string) string {
				tr, err := sim.GetTransaction(id)
				if err != nil {
					t.Fatal(err)
				}
				return tr.Status
			}

			// A depositor who gave every field the reference server asks for.
			user := keypair.MustRandom()
			token := s.login(t, user)
			fields := map[string]string{"type": "sep6", "first_name": "Ada", "last_name": "Lovelace", "email_address": "ada@example.com",
				"birth_date": "1990-01-01", "id_type": "passport", "id_country_code": "USA", "id_issue_date": "2020-01-01",
				"id_expiration_date": "2030-01-01", "id_number": "X123", "address": "1 Main St"}
			s.do(t, "PUT", s.public+"/sep12/customer", token, fields, 202)
			q := url.Values{"asset_code": {"USDC"}, "account": {user.Address()}, "funding_method": {"SEPA"}, "amount": {"100"}}
			_, b := s.do(t, "GET", s.public+"/sep6/deposit?"+q.Encode(), token, nil, 200)
			var dep struct{ ID string }
			json.Unmarshal(b, &dep)
			if dep.ID == "" {
				t.Fatalf("deposit answer %s", b)
			}
			// request_offchain_funds, notify_offchain_funds_received, notify_onchain_funds_sent:
			// each from the event of the status before.
			wait.For(t, "the reference server completes the deposit", func() bool { return status(dep.ID) == "completed" })

			// A withdrawer without bank details: the reference server asks for them
			// (notify_customer_info_updated with the customer id) and waits.
			q = url.Values{"asset_code": {"USDC"}, "account": {user.Address()}, "funding_method": {"SEPA"}, "amount": {"50"}}
			_, b = s.do(t, "GET", s.public+"/sep6/withdraw?"+q.Encode(), token, nil, 200)
			var wd struct{ ID string }
			json.Unmarshal(b, &wd)
			if wd.ID == "" {
				t.Fatalf("withdraw answer %s", b)
			}
			// Its own two ways to ask for funds (this status's event and customer_updated)
			// would race for the same call once the details are in: let the first be
			// handled (nothing to ask yet) before the wallet sends them.
			wait.For(t, "the reference server asks for the withdrawer's bank details and handles the wait", func() bool {
				waiting, updated := false, false
				for _, e := range sim.Events() {
					waiting = waiting || (e.TransactionID == wd.ID && e.Status == "pending_customer_info_update")
					updated = updated || e.Type == "customer_updated"
				}
				return waiting && updated
			})
			if st := status(wd.ID); st == "pending_user_transfer_start" {
				t.Fatalf("withdrawal asked for funds before the bank details: %s", st)
			}
			cust := sim.CustomerByAccount(user.Address(), "")
			if cust == nil {
				t.Fatal("the business has no customer for the wallet")
			}
			s.do(t, "PUT", s.public+"/sep12/customer", token, map[string]string{"id": cust.ID, "type": "sep6",
				"bank_account_number": "13719713158835300", "bank_account_type": "checking", "bank_number": "121122676",
				"bank_branch_number": "001"}, 202)
			wait.For(t, "the reference server asks for the withdrawal's funds once the details are in", func() bool {
				return status(wd.ID) == "pending_user_transfer_start"
			})
			// The user's payment, as the platform's observer reports it.
			if err := sim.RPC("notify_onchain_funds_received", map[string]any{"transaction_id": wd.ID,
				"stellar_transaction_id": strings.Repeat("ab", 32), "amount_in": map[string]any{"amount": "50"}}); err != nil {
				t.Fatal(err)
			}
			// notify_offchain_funds_pending, then notify_offchain_funds_sent.
			wait.For(t, "the reference server completes the withdrawal", func() bool { return status(wd.ID) == "completed" })

			// A depositor without an address (and a memo: a shared account's user), the same
			// way: asked for it, waits, completes once it is sent.
			other := keypair.MustRandom()
			memoToken := s.loginMemo(t, other, "7")
			fields["first_name"] = "Grace"
			delete(fields, "address")
			s.do(t, "PUT", s.public+"/sep12/customer", memoToken, fields, 202)
			q = url.Values{"asset_code": {"USDC"}, "account": {other.Address()}, "memo": {"7"}, "funding_method": {"SEPA"}, "amount": {"20"}}
			_, b = s.do(t, "GET", s.public+"/sep6/deposit?"+q.Encode(), memoToken, nil, 200)
			var dep2 struct{ ID string }
			json.Unmarshal(b, &dep2)
			wait.For(t, "the reference server asks the second depositor for an address", func() bool {
				for _, c := range sim.Calls() {
					if c.RPCMethod == "notify_customer_info_updated" && strings.Contains(string(c.Body), dep2.ID) {
						return true
					}
				}
				return false
			})
			// Every event that call caused handled (the handlers answer once done), so that
			// only the address's customer_updated asks for the funds.
			s.settled(t)
			cust = sim.CustomerByAccount(other.Address(), "7")
			if cust == nil {
				t.Fatal("the business has no customer for the second wallet's memo")
			}
			s.do(t, "PUT", s.public+"/sep12/customer", memoToken, map[string]string{"id": cust.ID, "type": "sep6", "address": "2 Main St"}, 202)
			wait.For(t, "the reference server completes the second deposit", func() bool { return status(dep2.ID) == "completed" })

			// Its other calls: the list it reads when a customer changes, and PATCH.
			if _, err := sim.GetTransactions("pending_customer_info_update", "pending_anchor"); err != nil {
				t.Fatal(err)
			}
			if err := sim.Patch(wd.ID, "completed", "paid out to the bank"); err != nil {
				t.Fatal(err)
			}
			if tr, _ := sim.GetTransaction(wd.ID); tr.Message != "paid out to the bank" {
				t.Fatalf("PATCH message: %q", tr.Message)
			}

			if p := sim.Problems(); len(p) > 0 {
				t.Fatalf("the reference server would have failed:\n%s", strings.Join(p, "\n"))
			}
			seen := map[string]bool{}
			for _, e := range sim.Events() {
				seen[e.Type] = true
			}
			for _, typ := range []string{"transaction_created", "transaction_status_changed", "customer_updated"} {
				if !seen[typ] {
					t.Errorf("no %s event reached the reference server", typ)
				}
			}
			for _, c := range sim.Calls() {
				if c.Status != 200 {
					t.Errorf("%s %s (%s) = %d %s", c.Method, c.Path, c.RPCMethod, c.Status, c.Body)
				}
			}
		})
	}
}
