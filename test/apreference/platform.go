package apreference

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// call makes one request to the platform with the reference server's authentication (an
// HS256 JWT of iat and exp, 30 s), records it (unless it is a test's look, rpcMethod
// "look") and returns the answer.
func (s *Sim) call(method, path string, body any, rpcMethod string) (int, []byte, error) {
	s.mu.Lock()
	base := s.platform
	s.mu.Unlock()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.opts.ToPlatformSecret != "" {
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix()}).
			SignedString([]byte(s.opts.ToPlatformSecret))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if rpcMethod != look {
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: method, Path: path, RPCMethod: rpcMethod, Status: resp.StatusCode, Body: b})
		s.mu.Unlock()
	}
	return resp.StatusCode, b, nil
}

// paramClass names each RPC method's params class in the reference server
// (org.stellar.reference.data): kotlinx.serialization writes it as the params' "type",
// the discriminator of the sealed class RpcActionParamsRequest.
var paramClass = map[string]string{
	"request_offchain_funds":          "RequestOffchainFundsRequest",
	"request_onchain_funds":           "RequestOnchainFundsRequest",
	"notify_customer_info_updated":    "NotifyCustomerInfoUpdatedRequest",
	"notify_onchain_funds_sent":       "NotifyOnchainFundsSentRequest",
	"notify_offchain_funds_received":  "NotifyOffchainFundsReceivedRequest",
	"notify_offchain_funds_available": "NotifyOffchainFundsAvailableRequest",
	"notify_offchain_funds_pending":   "NotifyOffchainFundsPendingRequest",
	"notify_amounts_updated":          "NotifyAmountsUpdatedRequest",
	"notify_offchain_funds_sent":      "NotifyOffchainFundsSentRequest",
	"notify_transaction_error":        "NotifyTransactionErrorRequest",
}

// RPC is SepHelper.rpcAction: a one-element batch posted to the platform's root, the params
// tagged with their class; an answer other than 200 with an array whose first element has
// no error is an exception in the reference server (returned here).
func (s *Sim) RPC(method string, params map[string]any) error {
	p := map[string]any{"type": "org.stellar.reference.data." + paramClass[method]}
	for k, v := range params {
		if v != nil {
			p[k] = v // kotlinx leaves out what is at its default (null)
		}
	}
	status, body, err := s.call(http.MethodPost, "", []map[string]any{{"id": uuid.NewString(), "jsonrpc": "2.0", "method": method, "params": p}}, method)
	if err != nil {
		return err
	}
	var out []struct {
		Error json.RawMessage `json:"error"`
	}
	if status != http.StatusOK {
		return fmt.Errorf("rpc %s: HTTP %d %s", method, status, body)
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out) == 0 {
		return fmt.Errorf("rpc %s: Gson cannot read %s as List<RpcResponse>: %v", method, body, err)
	}
	if len(out[0].Error) > 0 && string(out[0].Error) != "null" {
		return fmt.Errorf("rpc %s: error %s", method, out[0].Error)
	}
	return nil
}

// Patch is SepHelper.patchTransaction: PATCH /transactions with one record of id, status
// and message.
func (s *Sim) Patch(id, status, message string) error {
	rec := map[string]any{"id": id, "status": status}
	if message != "" {
		rec["message"] = message
	}
	code, body, err := s.call(http.MethodPatch, "/transactions", map[string]any{"records": []map[string]any{{"transaction": rec}}}, "")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("patch %s: HTTP %d %s", id, code, body)
	}
	return nil
}

// Transaction is the reference server's own Transaction class (org.stellar.reference.data),
// what SepHelper.getTransaction decodes GET /transactions/{id} into.
type Transaction struct {
	ID, Status, Kind, Message string
	AmountIn, AmountOut       *Amount
	AmountExpected            *Amount
	FeeDetails                *FeeDetails
	Memo, MemoType            string
	SourceAccount             string
	DestinationAccount        string
	StellarTransactions       []StellarTransaction
	Customers                 Customers
}

// Amount is the reference server's Amount: both parts optional.
type Amount struct{ Amount, Asset string }

// FeeDetails is the reference server's FeeDetails.
type FeeDetails struct{ Total, Asset string }

// StellarTransaction is one of stellar_transactions, with its payments' ids.
type StellarTransaction struct {
	ID       string
	Payments []string
}

// Customers is sender and receiver, each nil when null.
type Customers struct{ Sender, Receiver *StellarID }

// StellarID is the reference server's StellarId.
type StellarID struct{ ID, Account, Memo string }

// look marks a call a test makes through the simulator (not recorded in Calls).
const look = "look"

// GetTransaction is SepHelper.getTransaction (GET /transactions/{id}) for a test: the same
// request and reading, not recorded in Calls.
func (s *Sim) GetTransaction(id string) (Transaction, error) { return s.readTransaction(id, look) }

func (s *Sim) getTransaction(id string) (Transaction, error) { return s.readTransaction(id, "") }

func (s *Sim) readTransaction(id, mark string) (Transaction, error) {
	status, body, err := s.call(http.MethodGet, "/transactions/"+url.PathEscape(id), nil, mark)
	if err != nil {
		return Transaction{}, err
	}
	if status != http.StatusOK {
		// ktor's body() on an error answer fails to decode it as a Transaction.
		return Transaction{}, fmt.Errorf("GET /transactions/%s: HTTP %d %s", id, status, body)
	}
	t, err := decodeTransaction(body)
	if err != nil {
		return Transaction{}, fmt.Errorf("GET /transactions/%s: kotlinx cannot read it as Transaction: %w", id, err)
	}
	return t, nil
}

// GetTransactions is PlatformClient.getTransactions as Sep6EventProcessor.onCustomerUpdated
// calls it: SEP-6, oldest first, the statuses given; the lower-cased enum names of
// TransactionsSeps, TransactionsOrderBy and TransactionsOrder, statuses comma-joined. The
// answer is read as Gson reads GetTransactionsResponse.
func (s *Sim) GetTransactions(statuses ...string) ([]map[string]any, error) {
	q := url.Values{"sep": {"sep_6"}, "order_by": {"created_at"}, "order": {"asc"}}
	if len(statuses) > 0 {
		q.Set("statuses", join(statuses))
	}
	status, body, err := s.call(http.MethodGet, "/transactions?"+q.Encode(), nil, "")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("error getting transactions: %d %s", status, body)
	}
	var out struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("GET /transactions: Gson cannot read %s: %w", body, err)
	}
	for _, r := range out.Records {
		if err := gsonTransaction(r); err != nil {
			return nil, fmt.Errorf("GET /transactions: record %v: %w", r["id"], err)
		}
	}
	return out.Records, nil
}

func join(l []string) string {
	out := ""
	for i, s := range l {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
