package apreference

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/google/uuid"
)

// customerRequest is the callback API's GetCustomerRequest (and the identifying part of a
// PutCustomerRequest).
type customerRequest struct {
	ID, Account, Memo, MemoType, TransactionID, Type string
}

// alwaysRequired are the fields the reference server never marks optional.
var alwaysRequired = []string{"first_name", "last_name", "email_address"}

// knownFields are the SEP-9 fields the reference server's customers table has (the ones a
// GET /customer lists as provided or missing).
var knownFields = []string{"first_name", "last_name", "additional_name", "address_country_code", "state_or_province",
	"city", "postal_code", "address", "mobile_number", "email_address", "birth_date", "birth_place", "birth_country_code",
	"bank_name", "bank_account_number", "bank_account_type", "bank_number", "bank_phone_number", "bank_branch_number",
	"external_transfer_memo", "clabe_number", "cbu_number", "cbu_alias", "mobile_money_number", "mobile_money_provider",
	"crypto_address", "crypto_memo", "tax_id", "tax_id_name", "occupation", "employer_name", "employer_address",
	"language_code", "id_type", "id_country_code", "id_issue_date", "id_expiration_date", "id_number", "ip_address",
	"sex", "referral_id"}

// getCustomer is CustomerService.getCustomer: by transaction (the transaction's sender,
// read from the platform, with the fields that transaction asks for), by id (checked
// against the account, memo and memo type given), or by account.
func (s *Sim) getCustomer(r customerRequest) (map[string]any, error) {
	var c *Customer
	var required []string
	switch {
	case r.TransactionID != "":
		found, who, err := s.transactionCustomer(r.TransactionID, senderName(r.Type))
		if err != nil {
			return nil, err
		}
		c = found
		if c == nil {
			c = &who
		}
		s.mu.Lock()
		required = s.txKYC[r.TransactionID]
		s.mu.Unlock()
	case r.ID != "":
		s.mu.Lock()
		c = s.customers[r.ID]
		s.mu.Unlock()
		if c == nil || !matches(c, r) {
			return nil, &httpError{http.StatusNotFound, fmt.Sprintf("customer for 'id' '%s' not found", r.ID)}
		}
	case r.Account != "":
		s.mu.Lock()
		c = s.byIdentity(r.Account, r.Memo, r.MemoType)
		s.mu.Unlock()
		if c == nil {
			c = &Customer{Account: r.Account, Memo: r.Memo, MemoType: r.MemoType}
		}
	default:
		return nil, &httpError{http.StatusBadRequest, "Either id or account must be provided"}
	}
	return response(c, required), nil
}

// transactionCustomer finds the customer a transaction names as party ("sender" or
// "receiver", as the platform's customers object has them): by id when the platform gives
// one, else by account, memo and memo type (an id memo when there is a memo). found is nil
// when the reference server has no such customer yet; who is that party's identity then.
func (s *Sim) transactionCustomer(txID, party string) (found *Customer, who Customer, err error) {
	tx, err := s.getTransaction(txID)
	if err != nil {
		return nil, Customer{}, err
	}
	id := tx.Customers.Sender
	if party == "receiver" {
		id = tx.Customers.Receiver
	}
	if id == nil {
		return nil, Customer{}, fmt.Errorf("transaction %s: customers.%s is null (NullPointerException at `!!`)", txID, party)
	}
	who = Customer{Account: id.Account, Memo: id.Memo}
	if id.Memo != "" {
		who.MemoType = "id"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id.ID != "" {
		return s.customers[id.ID], who, nil
	}
	return s.byIdentity(who.Account, who.Memo, who.MemoType), who, nil
}

// senderName is the party of the transaction a customer type is read as.
func senderName(typ string) string {
	if typ == "sep31-receiver" {
		return "receiver"
	}
	return "sender"
}

// matches is assertCustomerMatchesRequest: whatever identity the request gives must be the
// customer's.
func matches(c *Customer, r customerRequest) bool {
	return (r.Account == "" || r.Account == c.Account) && (r.Memo == "" || r.Memo == c.Memo) &&
		(r.MemoType == "" || r.MemoType == c.MemoType)
}

// byIdentity is CustomerRepository.get(account, memo, memoType): all three must match, a
// missing memo (type) matching only a missing one. Called with mu held.
func (s *Sim) byIdentity(account, memo, memoType string) *Customer {
	ids := make([]string, 0, len(s.customers))
	for id := range s.customers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := s.customers[id]
		if c.Account == account && c.Memo == memo && c.MemoType == memoType {
			return c
		}
	}
	return nil
}

// response is convertCustomerToResponse: NEEDS_INFO while a required field is missing,
// else ACCEPTED; no id for a customer not created yet.
func response(c *Customer, required []string) map[string]any {
	provided, missing := map[string]any{}, map[string]any{}
	needsInfo := false
	for _, f := range knownFields {
		optional := !contains(alwaysRequired, f) && !contains(required, f)
		if c.Fields[f] != "" {
			provided[f] = map[string]any{"type": "string", "description": f, "status": "ACCEPTED", "optional": optional}
			continue
		}
		missing[f] = map[string]any{"type": "string", "description": f, "optional": optional}
		needsInfo = needsInfo || !optional
	}
	out := map[string]any{"status": "ACCEPTED", "provided_fields": provided, "fields": missing}
	if needsInfo {
		out["status"] = "NEEDS_INFO"
	}
	if c.ID != "" {
		out["id"] = c.ID
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// upsertCustomer is CustomerService.upsertCustomer: find the customer (by transaction, id
// or account), update the fields given or create it with the identity given, and answer
// as GET /customer by id does.
func (s *Sim) upsertCustomer(body map[string]any) (map[string]any, error) {
	str := func(k string) string { v, _ := body[k].(string); return v }
	r := customerRequest{ID: str("id"), Account: str("account"), Memo: str("memo"), MemoType: str("memo_type"),
		TransactionID: str("transaction_id"), Type: str("type")}
	var c *Customer
	switch {
	case r.TransactionID != "":
		// Always the sender, whatever the type: upsertCustomer reads customers.sender only.
		found, _, err := s.transactionCustomer(r.TransactionID, "sender")
		if err != nil {
			return nil, err
		}
		c = found
	case r.ID != "":
		s.mu.Lock()
		c = s.customers[r.ID]
		s.mu.Unlock()
		if c != nil && !matches(c, r) {
			return nil, &httpError{http.StatusNotFound, fmt.Sprintf("customer for 'id' '%s' not found", r.ID)}
		}
	case r.Account != "":
		s.mu.Lock()
		c = s.byIdentity(r.Account, r.Memo, r.MemoType)
		s.mu.Unlock()
	default:
		return nil, &httpError{http.StatusBadRequest, "Either id or account must be provided"}
	}
	s.mu.Lock()
	if c == nil {
		c = &Customer{ID: uuid.NewString(), Account: r.Account, Memo: r.Memo, MemoType: r.MemoType, Fields: map[string]string{}}
		s.customers[c.ID] = c
	}
	for _, f := range knownFields {
		if v := str(f); v != "" {
			c.Fields[f] = v
		}
	}
	cp := *c
	s.mu.Unlock()
	return response(&cp, nil), nil
}
