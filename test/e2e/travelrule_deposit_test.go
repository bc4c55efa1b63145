package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
	"github.com/vaspgate/vaspgate/internal/travelrule/enclavesim"
)

const counterpartyVASP = "15952089931162060684"

// rpcCall calls the business JSON-RPC and returns the result or the error message.
func (s *stack) rpcCall(t *testing.T, method string, params map[string]any) (map[string]any, string) {
	t.Helper()
	_, b := s.do(t, "POST", s.admin+"/rpc", "", []map[string]any{{"jsonrpc": "2.0", "id": 1, "method": method, "params": params}}, 200)
	var resp []struct {
		Result map[string]any
		Error  *struct{ Message string }
	}
	if err := json.Unmarshal(b, &resp); err != nil || len(resp) != 1 {
		t.Fatalf("%s: %s", method, b)
	}
	if resp[0].Error != nil {
		return nil, resp[0].Error.Message
	}
	return resp[0].Result, ""
}

// custodialDeposit makes a custodial VASP's account (listed as a counterparty) with a
// customer, and a SEP-6 USDC deposit to it of amount whose user funds have been received.
func (s *stack) custodialDeposit(t *testing.T, kp *keypair.Full, amount string) string {
	t.Helper()
	token := s.login(t, kp)
	_, b := s.do(t, "PUT", s.public+"/sep12/customer", token, map[string]string{"type": "sep6", "first_name": "Taylor",
		"last_name": "Robbins", "email_address": "t@example.com"}, 202)
	var cust struct{ ID string }
	json.Unmarshal(b, &cust)
	s.do(t, "PUT", s.admin+"/admin/v1/customers/"+cust.ID+"/status", adminToken, map[string]any{"status": "ACCEPTED"}, 200)
	q := url.Values{"asset_code": {"USDC"}, "account": {kp.Address()}, "funding_method": {"SEPA"}, "amount": {amount}}
	_, b = s.do(t, "GET", s.public+"/sep6/deposit?"+q.Encode(), token, nil, 200)
	var dep struct{ ID string }
	json.Unmarshal(b, &dep)
	usd := map[string]any{"amount": amount, "asset": "iso4217:USD"}
	out := map[string]any{"amount": amount, "asset": "stellar:USDC"}
	fee := map[string]any{"total": "0", "asset": "iso4217:USD"}
	s.rpc(t, "request_offchain_funds", map[string]any{"transaction_id": dep.ID, "amount_in": usd, "amount_out": out, "fee_details": fee})
	s.rpc(t, "notify_offchain_funds_received", map[string]any{"transaction_id": dep.ID, "amount_in": usd, "amount_out": out, "fee_details": fee})
	return dep.ID
}

func (s *stack) transaction(t *testing.T, id string) map[string]any {
	t.Helper()
	return s.rpc(t, "get_transaction", map[string]any{"id": id})
}

// TestDepositToAnotherVASPWaitsForTheTravelRule plays vaspgate as the originating VASP on
// both engines against the simulated enclave: a deposit to another VASP's customer above the
// threshold is held until VERIFIED, then sent and reported (its hash reaches the enclave
// once); a DENIED one ends in error and is never sent; a verification whose callback was lost
// is completed by reconciliation; a verified deposit cancelled before sending is reported as
// an error; a deposit under the threshold is not held.
func TestDepositToAnotherVASPWaitsForTheTravelRule(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			sim := enclavesim.NewServer()
			t.Cleanup(sim.Close)
			accounts := map[string]*keypair.Full{}
			for _, k := range []string{"verified", "denied", "lost", "cancelled", "small"} {
				accounts[k] = keypair.MustRandom()
			}
			sim.Decide = func(req map[string]any) enclavesim.Result {
				ben := req["payload"].(map[string]any)["ivms101"].(map[string]any)["beneficiary"].(map[string]any)
				if ben["accountNumber"].([]any)[0] == accounts["denied"].Address() {
					return enclavesim.Result{Result: "DENIED", Reason: "UNKNOWN-ADDRESS", Message: accounts["denied"].Address() + " is not registered."}
				}
				return enclavesim.Result{Result: "VERIFIED", Reason: "OK"}
			}
			s := startWith(t, d, testkit.NewWallet(t), func(c *config.Config) {
				enclaveConfig(c)
				c.TravelRule.Enclave.URL = sim.URL
				c.TravelRule.Threshold = map[string]string{"USDC": "1000"}
				c.TravelRule.Counterparties = map[string]string{}
				for _, kp := range accounts {
					c.TravelRule.Counterparties[kp.Address()] = counterpartyVASP
				}
				c.TravelRule.ReconcileAfter = time.Second
				c.TravelRule.ReconcileInterval = time.Second
			})
			sim.VASP = s.enclave()
			hash := "9a5e8d9c1d3b6a7f2e4c0b8a6d4f2e1c3b5a7d9f1e3c5b7a9d1f3e5c7b9a1d3f"

			// Held, verified, sent, reported once.
			dep := s.custodialDeposit(t, accounts["verified"], "2500")
			reqs, err := sim.WaitFor("/v1/verifications", 1, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			body := reqs[0].Body
			if body["beneficiaryVaspId"] != counterpartyVASP || !strings.Contains(mustJSON(body["payload"]), `"nameIdentifierType":"LEGL","primaryIdentifier":"Robbins","secondaryIdentifier":"Taylor"`) ||
				body["assetInfo"].(map[string]any)["amount"] != "2500" {
				t.Fatalf("verification request %s", mustJSON(body))
			}
			sent := map[string]any{"transaction_id": dep, "stellar_transaction_id": hash}
			if _, msg := s.rpcCall(t, "notify_onchain_funds_sent", sent); !strings.Contains(msg, "Travel Rule") {
				t.Fatalf("notify_onchain_funds_sent before the result: %q, want a Travel Rule refusal", msg)
			}
			var uuid string
			wait.For(t, "the verification is linked to the deposit", func() bool {
				verifs := sim.Got("/v1/verifications")
				if len(verifs) != 1 {
					return false
				}
				uuid = s.verificationOf(t, dep)
				return uuid != ""
			})
			if r, err := sim.Send(ctx, uuid); err != nil || r.Status != 200 {
				t.Fatalf("callback: %v %d %s", err, r.Status, r.Body)
			}
			wait.For(t, "notify_onchain_funds_sent accepted once VERIFIED", func() bool {
				_, msg := s.rpcCall(t, "notify_onchain_funds_sent", sent)
				return msg == ""
			})
			reports, err := sim.WaitFor("/v1/verifications/tx", 1, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if reports[0].Body["verificationUuid"] != uuid || reports[0].Body["txHash"] != hash {
				t.Fatalf("report %v", reports[0].Body)
			}
			if tx := s.transaction(t, dep); tx["status"] != "completed" {
				t.Fatalf("deposit %v", tx)
			}
			// The business sees the verification on the transaction object.
			if got := mustJSON(s.transaction(t, dep)["travel_rule"]); !strings.Contains(got, `"verification_uuid":"`+uuid+`"`) ||
				!strings.Contains(got, `"role":"originator"`) || !strings.Contains(got, `"status":"VERIFIED"`) {
				t.Fatalf("travel_rule on the transaction: %s", got)
			}
			var view string
			wait.For(t, "the report is recorded on the verification", func() bool {
				_, b := s.do(t, "GET", s.admin+"/admin/v1/travel-rule/verifications/"+uuid, adminToken, nil, 200)
				view = string(b)
				return strings.Contains(view, `"api":"report_transaction"`)
			})
			if !strings.Contains(view, `"transactions":[{"transaction_id":"`+dep+`","role":"originator"}]`) ||
				!strings.Contains(view, `"status":"VERIFIED"`) || strings.Count(view, `"api":"report_transaction"`) != 1 {
				t.Fatalf("verification view %s", view)
			}

			// DENIED: the deposit ends in error with the reason, and is never sent.
			denied := s.custodialDeposit(t, accounts["denied"], "5000")
			if _, err := sim.WaitFor("/v1/verifications", 2, 60*time.Second); err != nil {
				t.Fatal(err)
			}
			var deniedUUID string
			wait.For(t, "the denied verification is linked", func() bool { deniedUUID = s.verificationOf(t, denied); return deniedUUID != "" })
			if _, err := sim.Send(ctx, deniedUUID); err != nil {
				t.Fatal(err)
			}
			wait.For(t, "the denied deposit is in error", func() bool { return s.transaction(t, denied)["status"] == "error" })
			if msg := s.transaction(t, denied)["message"]; !strings.Contains(msg.(string), "DENIED") || !strings.Contains(msg.(string), "UNKNOWN-ADDRESS") {
				t.Errorf("denied deposit message %q", msg)
			}
			if _, msg := s.rpcCall(t, "notify_onchain_funds_sent", map[string]any{"transaction_id": denied, "stellar_transaction_id": hash}); msg == "" {
				t.Error("a denied deposit was accepted as sent")
			}

			// Lost callback: reconciliation asks the enclave and the deposit may go.
			lost := s.custodialDeposit(t, accounts["lost"], "1000")
			wait.For(t, "reconciliation asked the enclave", func() bool {
				u := s.verificationOf(t, lost)
				return u != "" && len(sim.Got("/v1/verifications/"+u)) > 0
			})
			wait.For(t, "the reconciled deposit may be sent", func() bool {
				_, msg := s.rpcCall(t, "notify_onchain_funds_sent", map[string]any{"transaction_id": lost, "stellar_transaction_id": hash[:60] + "0001"})
				return msg == ""
			})

			// Verified, then cancelled before sending: Report Error.
			cancelled := s.custodialDeposit(t, accounts["cancelled"], "1200")
			var cu string
			wait.For(t, "linked", func() bool { cu = s.verificationOf(t, cancelled); return cu != "" })
			sim.Send(ctx, cu)
			wait.For(t, "VERIFIED", func() bool {
				_, b := s.do(t, "GET", s.admin+"/admin/v1/travel-rule/verifications/"+cu, adminToken, nil, 200)
				return strings.Contains(string(b), `"status":"VERIFIED"`)
			})
			s.rpc(t, "notify_transaction_error", map[string]any{"transaction_id": cancelled, "message": "the user withdrew the request"})
			errs, err := sim.WaitFor("/v1/verifications/error", 1, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if errs[0].Body["verificationUuid"] != cu || errs[0].Body["message"] != "the user withdrew the request" {
				t.Errorf("error report %v", errs[0].Body)
			}

			// Under the threshold: no verification, no hold.
			small := s.custodialDeposit(t, accounts["small"], "999.99")
			if _, msg := s.rpcCall(t, "notify_onchain_funds_sent", map[string]any{"transaction_id": small, "stellar_transaction_id": hash[:60] + "0002"}); msg != "" {
				t.Errorf("a deposit under the threshold was held: %s", msg)
			}
			if got := len(sim.Got("/v1/verifications")); got != 4 {
				t.Errorf("verification requests %d, want 4 (none for the small deposit)", got)
			}
			if got := len(sim.Got("/v1/verifications/tx")); got != 2 {
				t.Errorf("transaction reports %d, want 2 (verified and reconciled deposits, once each)", got)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// verificationOf reads the verification linked to a transaction from the database, as
// the admin view would show it ("" when none yet).
func (s *stack) verificationOf(t *testing.T, transactionID string) string {
	t.Helper()
	ids, err := s.app.TravelRule.TransactionVerifications(context.Background(), transactionID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[len(ids)-1]
}
