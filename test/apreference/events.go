package apreference

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// The fields Sep6EventProcessor asks of every customer, and of depositors and withdrawers.
var (
	requiredKyc         = []string{"birth_date", "id_type", "id_country_code", "id_issue_date", "id_expiration_date", "id_number"}
	depositRequiredKyc  = []string{"address"}
	withdrawRequiredKyc = []string{"bank_account_number", "bank_account_type", "bank_number", "bank_branch_number"}
)

// KYCFor is every field the reference server wants of a customer before it asks for the
// funds of a transaction of kind (besides first name, last name and email).
func KYCFor(kind string) []string {
	if strings.HasPrefix(kind, "deposit") {
		return append(append([]string{}, requiredKyc...), depositRequiredKyc...)
	}
	return append(append([]string{}, requiredKyc...), withdrawRequiredKyc...)
}

// tx is an event's (or a list's) transaction as Gson gives it to the processor: fields read
// through it fail where Kotlin would throw on a null.
type tx map[string]any

func (t tx) str(k string) string {
	switch v := t[k].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

// obj is t[k] as an object; a null is an error naming what Kotlin dereferenced.
func (t tx) obj(k string) (tx, error) {
	o, ok := t[k].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("transaction %s: %s is null (NullPointerException)", t.str("id"), k)
	}
	return tx(o), nil
}

// need is t[k] as a string where Kotlin passes it on as a non-null String.
func (t tx) need(k, where string) (string, error) {
	if _, ok := t[k].(string); !ok {
		return "", fmt.Errorf("transaction %s: %s is null where %s needs it (NullPointerException)", t.str("id"), k, where)
	}
	return t.str(k), nil
}

// receiveEvent is POST /event: Gson reads the SendEventRequest (a body it cannot read is
// an exception out of the route: 500), then AnchorEventProcessor.handleEvent runs, whose
// exceptions are logged (recorded as problems) and the event still answered 200.
func (s *Sim) receiveEvent(body []byte) error {
	var ev struct {
		ID, Type, Timestamp string
		Payload             struct {
			Transaction map[string]any `json:"transaction"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return fmt.Errorf("gson cannot read the event: %w", err)
	}
	if ev.Payload.Transaction != nil {
		if err := gsonTransaction(ev.Payload.Transaction); err != nil {
			return fmt.Errorf("gson cannot read the event's transaction: %w", err)
		}
	}
	t := tx(ev.Payload.Transaction)
	if err := s.handleEvent(ev.Type, t); err != nil {
		s.problem("Error processing event %s (%s): %v", ev.Type, t.str("id"), err)
	}
	// Listed once handled, so that a test waiting for an event waits for what it caused.
	s.mu.Lock()
	s.events = append(s.events, Event{ID: ev.ID, Type: ev.Type, Timestamp: ev.Timestamp, TransactionID: t.str("id"), Status: t.str("status"), Body: body})
	s.mu.Unlock()
	return nil
}

// handleEvent is AnchorEventProcessor.handleEvent for SEP-6 (other SEPs go to processors
// not simulated; customer_updated goes to the SEP-6 processor whatever the payload).
func (s *Sim) handleEvent(typ string, t tx) error {
	sep6 := t != nil && t.str("sep") == "6"
	switch typ {
	case "transaction_created":
		if sep6 {
			return s.onTransactionCreated(t)
		}
	case "transaction_status_changed":
		if sep6 {
			return s.onTransactionStatusChanged(t)
		}
	case "customer_updated":
		return s.onCustomerUpdated()
	case "quote_created":
	default:
		s.warn("Received event of type %s which is not supported by the reference server", typ)
	}
	return nil
}

func (s *Sim) onTransactionCreated(t tx) error {
	switch kind := gsonEnum(t["kind"], gsonKinds); kind {
	case "deposit", "deposit-exchange", "withdrawal", "withdrawal-exchange":
		if err := s.requestKyc(t); err != nil {
			return err
		}
		if err := s.requestCustomerFunds(t); err != nil {
			s.problem("Error requesting customer funds: %v", err)
		}
	default:
		s.warn("Received transaction created event with unsupported kind: %q", t.str("kind"))
	}
	return nil
}

func (s *Sim) onTransactionStatusChanged(t tx) error {
	switch gsonEnum(t["kind"], gsonKinds) {
	case "deposit", "deposit-exchange":
		return s.onDepositStatusChanged(t)
	case "withdrawal", "withdrawal-exchange":
		return s.onWithdrawStatusChanged(t)
	}
	s.warn("Received transaction status changed event with unsupported kind: %q", t.str("kind"))
	return nil
}

// sender is transaction.customers.sender, dereferenced as Kotlin does.
func sender(t tx) (tx, error) {
	c, err := t.obj("customers")
	if err != nil {
		return nil, err
	}
	return c.obj("sender")
}

func (s *Sim) onDepositStatusChanged(t tx) error {
	id := t.str("id")
	switch status := gsonEnum(t["status"], gsonStatuses); status {
	case "pending_anchor":
		c, err := sender(t)
		if err != nil {
			return err
		}
		missing, err := s.verifyKyc(id, c.str("account"), c.str("memo"), t.str("kind"))
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return s.requestKyc(t)
		}
		// PaymentClient.send(destinationAccount, Asset(amountExpected.asset), amount).
		if _, err := t.need("destination_account", "PaymentClient.send"); err != nil {
			return err
		}
		expected, err := t.obj("amount_expected")
		if err != nil {
			return err
		}
		if parts := strings.Split(expected.str("asset"), ":"); len(parts) != 2 && len(parts) != 3 {
			return fmt.Errorf("invalid asset format: %s", expected.str("asset"))
		}
		if expected.str("amount") != "0" {
			out, err := t.obj("amount_out")
			if err != nil {
				return err
			}
			if _, err := out.need("amount", "PaymentClient.send"); err != nil {
				return err
			}
		}
		return s.RPC("notify_onchain_funds_sent", map[string]any{"transaction_id": id, "message": "Funds sent to user",
			"stellar_transaction_id": randomHash()})
	case "pending_user_transfer_start":
		return s.RPC("notify_offchain_funds_received", map[string]any{"transaction_id": id, "message": "Funds received from user"})
	case "pending_customer_info_update":
		return s.requestCustomerFunds(t)
	case "completed":
	default:
		s.warn("Received transaction status changed event with unsupported status: %q", t.str("status"))
	}
	return nil
}

func (s *Sim) onWithdrawStatusChanged(t tx) error {
	id := t.str("id")
	switch gsonEnum(t["status"], gsonStatuses) {
	case "pending_anchor":
		c, err := sender(t)
		if err != nil {
			return err
		}
		missing, err := s.verifyKyc(id, c.str("account"), c.str("memo"), "withdrawal")
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return s.requestKyc(t)
		}
		received := t["transfer_received_at"] != nil
		s.mu.Lock()
		ext := s.offchain[id]
		s.mu.Unlock()
		switch {
		case ext == "" && received:
			out, err := t.obj("amount_out")
			if err != nil {
				return err
			}
			if out.str("amount") == "0" {
				in, err := t.obj("amount_in")
				if err != nil {
					return err
				}
				expected, err := t.obj("amount_expected")
				if err != nil {
					return err
				}
				if err := s.RPC("notify_amounts_updated", map[string]any{"transaction_id": id,
					"amount_out":  map[string]any{"amount": in.str("amount")},
					"fee_details": map[string]any{"total": "0", "asset": expected.str("asset")}}); err != nil {
					return err
				}
			}
			ext = uuid.NewString()
			s.mu.Lock()
			s.offchain[id] = ext
			s.mu.Unlock()
			return s.RPC("notify_offchain_funds_pending", map[string]any{"transaction_id": id, "message": "Funds sent to user",
				"external_transaction_id": ext})
		case received:
			return s.RPC("notify_offchain_funds_available", map[string]any{"transaction_id": id,
				"message": "Funds available for withdrawal", "external_transaction_id": ext})
		}
	case "pending_external":
		return s.RPC("notify_offchain_funds_sent", map[string]any{"transaction_id": id, "message": "Funds sent to user"})
	case "pending_customer_info_update":
		return s.requestCustomerFunds(t)
	case "completed":
	default:
		s.warn("Received transaction status changed event with unsupported status: %q", t.str("status"))
	}
	return nil
}

// onCustomerUpdated lists the SEP-6 transactions waiting for customer info, oldest first,
// and asks for each one's funds.
func (s *Sim) onCustomerUpdated() error {
	records, err := s.GetTransactions("pending_customer_info_update")
	if err != nil {
		return err
	}
	for _, r := range records {
		if err := s.requestCustomerFunds(tx(r)); err != nil {
			return err
		}
	}
	return nil
}

var usdInstructions = map[string]any{
	"organization.bank_number":         map[string]any{"value": "121122676", "description": "US Bank routing number"},
	"organization.bank_account_number": map[string]any{"value": "13719713158835300", "description": "US Bank account number"},
}

// requestCustomerFunds asks for the funds of a transaction whose customer has given every
// field: request_offchain_funds for a deposit, request_onchain_funds for a withdrawal.
func (s *Sim) requestCustomerFunds(t tx) error {
	id := t.str("id")
	c, err := sender(t)
	if err != nil {
		return err
	}
	kind := gsonEnum(t["kind"], gsonKinds)
	if kind != "deposit" && kind != "withdrawal" {
		s.warn("Received transaction created event with unsupported kind: %q (or one not simulated)", t.str("kind"))
		return nil
	}
	missing, err := s.verifyKyc(id, c.str("account"), c.str("memo"), kind)
	if err != nil || len(missing) > 0 {
		return err
	}
	expected, err := t.obj("amount_expected")
	if err != nil {
		return err
	}
	if kind == "deposit" {
		p := map[string]any{"transaction_id": id, "message": "Please deposit the amount to the following bank account",
			"fee_details": map[string]any{"total": "0", "asset": "iso4217:USD"}, "instructions": usdInstructions}
		if amount, ok := expected["amount"].(string); ok {
			p["amount_in"] = map[string]any{"asset": "iso4217:USD", "amount": amount}
			p["amount_out"] = map[string]any{"asset": expected.str("asset"), "amount": amount}
		}
		return s.RPC("request_offchain_funds", p)
	}
	amount, err := expected.need("amount", "AmountAssetRequest")
	if err != nil {
		return err
	}
	asset, err := expected.need("asset", "AmountAssetRequest")
	if err != nil {
		return err
	}
	return s.RPC("request_onchain_funds", map[string]any{"transaction_id": id, "message": "Please deposit the amount to the following address",
		"amount_in":   map[string]any{"asset": asset, "amount": amount},
		"amount_out":  map[string]any{"asset": "iso4217:USD", "amount": amount},
		"fee_details": map[string]any{"total": "0", "asset": asset}})
}

// verifyKyc is the processor's check: the transaction's customer (CustomerService.getCustomer
// by transaction) must have provided every field KYCFor(kind) names; it returns the missing.
func (s *Sim) verifyKyc(txID, account, memo, kind string) ([]string, error) {
	memoType := ""
	if memo != "" {
		memoType = "id"
	}
	resp, err := s.getCustomer(customerRequest{TransactionID: txID, Account: account, Memo: memo, MemoType: memoType})
	if err != nil {
		return nil, err
	}
	provided, _ := resp["provided_fields"].(map[string]any)
	var missing []string
	for _, f := range KYCFor(kind) {
		if _, ok := provided[f]; !ok {
			missing = append(missing, f)
		}
	}
	return missing, nil
}

// requestKyc asks for the missing fields: they become the transaction's required fields,
// the customer is found (or created) by the sender's identity, and the platform is told
// with notify_customer_info_updated.
func (s *Sim) requestKyc(t tx) error {
	id := t.str("id")
	c, err := sender(t)
	if err != nil {
		return err
	}
	missing, err := s.verifyKyc(id, c.str("account"), c.str("memo"), t.str("kind"))
	if err != nil || len(missing) == 0 {
		return err
	}
	s.mu.Lock()
	s.txKYC[id] = missing
	s.mu.Unlock()
	memoType := ""
	if c.str("memo") != "" {
		memoType = "id"
	}
	cur, err := s.getCustomer(customerRequest{Account: c.str("account"), Memo: c.str("memo"), MemoType: memoType})
	if err != nil {
		return err
	}
	custID, _ := cur["id"].(string)
	if custID == "" {
		created, err := s.upsertCustomer(map[string]any{"transaction_id": id, "account": c.str("account"), "memo": c.str("memo"), "memo_type": memoType})
		if err != nil {
			return err
		}
		custID, _ = created["id"].(string)
	}
	return s.RPC("notify_customer_info_updated", map[string]any{"transaction_id": id, "message": "Please update your info",
		"customer_id": custID, "customer_type": "sep6"})
}

func randomHash() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
