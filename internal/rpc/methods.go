package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/transfer"
)

// params is the union of every method's parameters (Anchor Platform's names).
type params struct {
	TransactionID         string                          `json:"transaction_id"`
	Message               string                          `json:"message"`
	AmountIn              *transfer.Amount                `json:"amount_in"`
	AmountOut             *transfer.Amount                `json:"amount_out"`
	AmountExpected        *transfer.Amount                `json:"amount_expected"`
	FeeDetails            *transfer.FeeDetails            `json:"fee_details"`
	UserActionRequiredBy  *time.Time                      `json:"user_action_required_by"`
	Instructions          map[string]transfer.Instruction `json:"instructions"`
	FundsReceivedAt       *time.Time                      `json:"funds_received_at"`
	FundsSentAt           *time.Time                      `json:"funds_sent_at"`
	ExternalTransactionID string                          `json:"external_transaction_id"`
	StellarTransactionID  string                          `json:"stellar_transaction_id"`
	DestinationAccount    string                          `json:"destination_account"`
	Memo                  string                          `json:"memo"`
	MemoType              string                          `json:"memo_type"`
	Success               *bool                           `json:"success"`
	Refund                *refundParam                    `json:"refund"`
	CustomerID            string                          `json:"customer_id"`
	CustomerType          string                          `json:"customer_type"`

	// get_transaction / get_transactions
	ID         string   `json:"id"`
	SEP        any      `json:"sep"`
	OrderBy    string   `json:"order_by"`
	Order      string   `json:"order"`
	Statuses   []string `json:"statuses"`
	PageSize   *int     `json:"page_size"`
	PageNumber *int     `json:"page_number"`

	now time.Time
}

type refundParam struct {
	ID        string           `json:"id"`
	Amount    *transfer.Amount `json:"amount"`
	AmountFee *transfer.Amount `json:"amount_fee"`
}

func invalid(format string, a ...any) error {
	return &transfer.InvalidError{Msg: fmt.Sprintf(format, a...)}
}

func (p *params) requireTransactionID() error {
	if strings.TrimSpace(p.TransactionID) == "" {
		return invalid("transaction_id is required")
	}
	return nil
}

var decimalRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func parseDecimal(s string) (*big.Rat, bool) {
	if !decimalRe.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// checkAmount validates an amount parameter; required says whether it may be absent.
func checkAmount(name string, a *transfer.Amount, required bool) error {
	if a == nil {
		if required {
			return invalid("%s is required", name)
		}
		return nil
	}
	if a.Amount == "" {
		return invalid("%s.amount cannot be empty", name)
	}
	r, ok := parseDecimal(a.Amount)
	if !ok || r.Sign() <= 0 {
		return invalid("%s.amount should be positive", name)
	}
	if a.Asset == "" {
		return invalid("%s.asset cannot be empty", name)
	}
	return nil
}

func checkFee(f *transfer.FeeDetails, required bool) error {
	if f == nil {
		if required {
			return invalid("fee_details is required")
		}
		return nil
	}
	r, ok := parseDecimal(f.Total)
	if !ok || r.Sign() < 0 {
		return invalid("fee_details.total should be non-negative")
	}
	if f.Asset == "" {
		return invalid("fee_details.asset cannot be empty")
	}
	for i, d := range f.Details {
		if d.Name == "" {
			return invalid("fee_details.details[%d].name cannot be empty", i)
		}
		if r, ok := parseDecimal(d.Amount); !ok || r.Sign() < 0 {
			return invalid("fee_details.details[%d].amount should be non-negative", i)
		}
	}
	return nil
}

func (p *params) checkUserActionRequiredBy() error {
	if p.UserActionRequiredBy != nil && !p.UserActionRequiredBy.After(p.now) {
		return invalid("user_action_required_by should be in the future")
	}
	return nil
}

func (p *params) checkMessage(next transfer.Status) error {
	if (next == transfer.StatusError || next == transfer.StatusExpired) && p.Message == "" {
		return invalid("message is required")
	}
	return nil
}

// method is one status-changing RPC method: check validates parameters against the
// current transaction (nothing is written), apply edits the transaction.
type method struct {
	check func(p *params, t *transfer.Transaction) error
	apply func(p *params, t *transfer.Transaction)
}

// moveTo sets the next status; a status change clears user_action_required_by (Anchor
// Platform), and methods that take the parameter set it afterwards.
func moveTo(t *transfer.Transaction, next transfer.Status, p *params) {
	if t.Status != next {
		t.Status = next
		t.UserActionRequiredBy = nil
	}
	if p.Message != "" {
		t.Message = p.Message
	}
}

func nop(*params, *transfer.Transaction) error { return nil }

func timeOr(t *time.Time, now time.Time) *time.Time {
	if t != nil {
		v := t.UTC().Truncate(time.Microsecond)
		return &v
	}
	return &now
}

var memoTypes = map[string]bool{"": true, "text": true, "id": true, "hash": true}

var methods = map[string]method{
	"request_offchain_funds": {
		check: func(p *params, t *transfer.Transaction) error {
			return errors.Join(checkAmount("amount_in", p.AmountIn, true), checkAmount("amount_out", p.AmountOut, false),
				checkAmount("amount_expected", p.AmountExpected, false), checkFee(p.FeeDetails, true), p.checkUserActionRequiredBy())
		},
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingUserTransferStart, p)
			t.AmountIn, t.FeeDetails = p.AmountIn, p.FeeDetails
			if p.AmountOut != nil {
				t.AmountOut = p.AmountOut
			}
			t.AmountExpected = p.AmountIn
			if p.AmountExpected != nil {
				t.AmountExpected = p.AmountExpected
			}
			if p.Instructions != nil {
				t.Instructions = p.Instructions
			}
			t.UserActionRequiredBy = p.UserActionRequiredBy
		},
	},
	"notify_offchain_funds_received": {
		check: func(p *params, t *transfer.Transaction) error {
			// Amounts may have been set by request_offchain_funds; they are required only
			// when the transaction has none yet.
			return errors.Join(checkAmount("amount_in", p.AmountIn, t.AmountIn == nil),
				checkAmount("amount_out", p.AmountOut, t.AmountOut == nil), checkFee(p.FeeDetails, t.FeeDetails == nil))
		},
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingAnchor, p)
			setAmounts(p, t)
			t.TransferReceivedAt = timeOr(p.FundsReceivedAt, p.now)
			if p.ExternalTransactionID != "" {
				t.ExternalTransactionID = p.ExternalTransactionID
			}
		},
	},
	"request_trust": {
		check: func(p *params, t *transfer.Transaction) error { return p.checkUserActionRequiredBy() },
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingTrust, p)
			t.UserActionRequiredBy = p.UserActionRequiredBy
		},
	},
	"notify_trust_set": {
		check: nop,
		apply: func(p *params, t *transfer.Transaction) { moveTo(t, transfer.StatusPendingAnchor, p) },
	},
	"notify_onchain_funds_sent": {
		check: func(p *params, t *transfer.Transaction) error {
			if p.StellarTransactionID == "" {
				return invalid("stellar_transaction_id is required")
			}
			return nil
		},
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusCompleted, p)
			t.StellarTransactionID = p.StellarTransactionID
		},
	},
	"request_onchain_funds": {
		check: func(p *params, t *transfer.Transaction) error {
			var errs []error
			errs = append(errs, checkAmount("amount_in", p.AmountIn, true), checkAmount("amount_out", p.AmountOut, false),
				checkAmount("amount_expected", p.AmountExpected, false), checkFee(p.FeeDetails, true), p.checkUserActionRequiredBy())
			if p.DestinationAccount == "" && t.WithdrawAnchorAccount == "" {
				errs = append(errs, invalid("destination_account is required"))
			}
			if !memoTypes[p.MemoType] {
				errs = append(errs, invalid("memo_type[%s] is not text, id or hash", p.MemoType))
			}
			if (p.Memo == "") != (p.MemoType == "") {
				errs = append(errs, invalid("memo and memo_type must be given together"))
			}
			return errors.Join(errs...)
		},
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingUserTransferStart, p)
			t.AmountIn, t.FeeDetails = p.AmountIn, p.FeeDetails
			if p.AmountOut != nil {
				t.AmountOut = p.AmountOut
			}
			t.AmountExpected = p.AmountIn
			if p.AmountExpected != nil {
				t.AmountExpected = p.AmountExpected
			}
			if p.DestinationAccount != "" {
				t.WithdrawAnchorAccount = p.DestinationAccount
			}
			if p.Memo != "" {
				t.WithdrawMemo, t.WithdrawMemoType = p.Memo, p.MemoType
			}
			t.UserActionRequiredBy = p.UserActionRequiredBy
		},
	},
	"notify_onchain_funds_received": {
		check: func(p *params, t *transfer.Transaction) error {
			if p.StellarTransactionID == "" {
				return invalid("stellar_transaction_id is required")
			}
			return errors.Join(checkAmount("amount_in", p.AmountIn, false), checkAmount("amount_out", p.AmountOut, false), checkFee(p.FeeDetails, false))
		},
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingAnchor, p)
			setAmounts(p, t)
			t.StellarTransactionID = p.StellarTransactionID
			t.TransferReceivedAt = &p.now
		},
	},
	"notify_offchain_funds_pending": {
		check: func(p *params, t *transfer.Transaction) error { return p.checkUserActionRequiredBy() },
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingExternal, p)
			setExternal(p, t)
			t.UserActionRequiredBy = p.UserActionRequiredBy
		},
	},
	"notify_offchain_funds_available": {
		check: func(p *params, t *transfer.Transaction) error { return p.checkUserActionRequiredBy() },
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingUserTransferComplete, p)
			setExternal(p, t)
			t.UserActionRequiredBy = p.UserActionRequiredBy
		},
	},
	"notify_offchain_funds_sent": {
		check: nop,
		apply: func(p *params, t *transfer.Transaction) {
			setExternal(p, t)
			if t.Kind.Deposit() {
				moveTo(t, transfer.StatusPendingExternal, p)
				return
			}
			moveTo(t, transfer.StatusCompleted, p)
			if p.FundsSentAt != nil {
				// Change sets completed_at to the commit time; the business knows better.
				t.CompletedAt = timeOr(p.FundsSentAt, p.now)
			}
		},
	},
	"notify_amounts_updated": {
		check: func(p *params, t *transfer.Transaction) error {
			return errors.Join(checkAmount("amount_out", p.AmountOut, true), checkFee(p.FeeDetails, true))
		},
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingAnchor, p)
			t.AmountOut, t.FeeDetails = p.AmountOut, p.FeeDetails
		},
	},
	"notify_transaction_on_hold": {
		check: func(p *params, t *transfer.Transaction) error { return p.checkUserActionRequiredBy() },
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusOnHold, p)
			t.UserActionRequiredBy = p.UserActionRequiredBy
		},
	},
	"notify_refund_pending": {
		check: func(p *params, t *transfer.Transaction) error { return checkRefund(p, t, true) },
		apply: func(p *params, t *transfer.Transaction) {
			moveTo(t, transfer.StatusPendingExternal, p)
		},
	},
	"notify_refund_sent": {
		check: func(p *params, t *transfer.Transaction) error {
			// After notify_refund_pending the refund was announced; it may be repeated here.
			return checkRefund(p, t, t.Status != transfer.StatusPendingExternal)
		},
		apply: func(p *params, t *transfer.Transaction) {
			full := addRefund(p, t)
			if full {
				moveTo(t, transfer.StatusRefunded, p)
			} else {
				moveTo(t, transfer.StatusPendingAnchor, p)
			}
		},
	},
	"notify_transaction_error": {
		check: func(p *params, t *transfer.Transaction) error { return p.checkMessage(transfer.StatusError) },
		apply: func(p *params, t *transfer.Transaction) { moveTo(t, transfer.StatusError, p) },
	},
	"notify_transaction_expired": {
		check: func(p *params, t *transfer.Transaction) error { return p.checkMessage(transfer.StatusExpired) },
		apply: func(p *params, t *transfer.Transaction) { moveTo(t, transfer.StatusExpired, p) },
	},
	"notify_transaction_recovery": {
		check: nop,
		apply: func(p *params, t *transfer.Transaction) { moveTo(t, transfer.StatusPendingAnchor, p) },
	},
}

func setAmounts(p *params, t *transfer.Transaction) {
	if p.AmountIn != nil {
		t.AmountIn = p.AmountIn
	}
	if p.AmountOut != nil {
		t.AmountOut = p.AmountOut
	}
	if p.FeeDetails != nil {
		t.FeeDetails = p.FeeDetails
	}
}

func setExternal(p *params, t *transfer.Transaction) {
	if p.ExternalTransactionID != "" {
		t.ExternalTransactionID = p.ExternalTransactionID
	}
}

// checkRefund validates the refund parameter: id, amount and fee in the asset of amount_in,
// and the refunds so far plus this one not above amount_in.
func checkRefund(p *params, t *transfer.Transaction, required bool) error {
	r := p.Refund
	if r == nil {
		if required {
			return invalid("refund is required")
		}
		return nil
	}
	if r.ID == "" {
		return invalid("refund.id is required")
	}
	if err := checkAmount("refund.amount", r.Amount, true); err != nil {
		return err
	}
	if r.AmountFee == nil {
		return invalid("refund.amount_fee is required")
	}
	fee, ok := parseDecimal(r.AmountFee.Amount)
	if !ok || fee.Sign() < 0 {
		return invalid("refund.amount_fee.amount should be non-negative")
	}
	if t.AmountIn == nil {
		return invalid("the transaction has no amount_in to refund")
	}
	if r.Amount.Asset != t.AmountIn.Asset || r.AmountFee.Asset != t.AmountIn.Asset {
		return invalid("refund.amount.asset and refund.amount_fee.asset must be amount_in.asset[%s]", t.AmountIn.Asset)
	}
	total, _ := refundedSoFar(t, r.ID)
	amt, _ := parseDecimal(r.Amount.Amount)
	total.Add(total, amt).Add(total, fee)
	in, _ := parseDecimal(t.AmountIn.Amount)
	if in != nil && total.Cmp(in) > 0 {
		return invalid("refund amount exceeds amount_in")
	}
	return nil
}

// refundedSoFar sums the recorded refund payments other than id (amounts plus fees).
func refundedSoFar(t *transfer.Transaction, except string) (*big.Rat, int) {
	sum := new(big.Rat)
	n := 0
	if t.Refunds == nil {
		return sum, 0
	}
	for _, pay := range t.Refunds.Payments {
		if pay.ID == except {
			continue
		}
		n++
		if a, ok := parseDecimal(pay.Amount.Amount); ok {
			sum.Add(sum, a)
		}
		if f, ok := parseDecimal(pay.Fee.Amount); ok {
			sum.Add(sum, f)
		}
	}
	return sum, n
}

func ratString(r *big.Rat) string {
	s := r.FloatString(7)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// addRefund records the refund payment (replacing one with the same id) and reports
// whether the whole amount_in is now refunded.
func addRefund(p *params, t *transfer.Transaction) bool {
	if p.Refund != nil {
		idType := "external"
		if t.Kind.Withdrawal() {
			idType = "stellar"
		}
		pay := transfer.RefundPayment{ID: p.Refund.ID, IDType: idType, Amount: *p.Refund.Amount, Fee: *p.Refund.AmountFee}
		if t.Refunds == nil {
			t.Refunds = &transfer.Refunds{}
		}
		t.Refunds.Payments = slices.DeleteFunc(t.Refunds.Payments, func(x transfer.RefundPayment) bool { return x.ID == pay.ID })
		t.Refunds.Payments = append(t.Refunds.Payments, pay)
	}
	if t.Refunds == nil || t.AmountIn == nil {
		return false
	}
	amt, fee := new(big.Rat), new(big.Rat)
	for _, pay := range t.Refunds.Payments {
		if a, ok := parseDecimal(pay.Amount.Amount); ok {
			amt.Add(amt, a)
		}
		if f, ok := parseDecimal(pay.Fee.Amount); ok {
			fee.Add(fee, f)
		}
	}
	asset := t.AmountIn.Asset
	t.Refunds.AmountRefunded = transfer.Amount{Amount: ratString(new(big.Rat).Add(amt, fee)), Asset: asset}
	t.Refunds.AmountFee = transfer.Amount{Amount: ratString(fee), Asset: asset}
	in, ok := parseDecimal(t.AmountIn.Amount)
	return ok && new(big.Rat).Add(amt, fee).Cmp(in) >= 0
}

// unsupported are Anchor Platform methods of protocols or integrations vaspgate does not
// serve, with the reason.
var unsupported = map[string]string{
	"do_stellar_payment":                "it needs a custody integration, which vaspgate does not have",
	"do_stellar_refund":                 "it needs a custody integration, which vaspgate does not have",
	"notify_interactive_flow_completed": "it belongs to SEP-24, which vaspgate does not serve",
	"get_quote":                         "it belongs to SEP-38, which vaspgate does not serve",
	"request_customer_info_update":      "Anchor Platform removed it; use notify_customer_info_updated",
}

func (s *Server) dispatch(ctx context.Context, name string, raw json.RawMessage) (any, error) {
	if why, ok := unsupported[name]; ok {
		return nil, errorf(CodeMethodNotFound, "RPC method[%s] is not supported: %s", name, why)
	}
	_, isChange := methods[name]
	if !isChange && name != "notify_customer_info_updated" && name != "get_transaction" && name != "get_transactions" {
		return nil, errorf(CodeMethodNotFound, "RPC method[%s] not found", name)
	}
	var p params
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, invalid("invalid params: %s", paramError(err))
		}
	}
	p.now = s.transfers.Now()
	switch name {
	case "notify_customer_info_updated":
		return s.notifyCustomerInfoUpdated(ctx, &p)
	case "get_transaction":
		if p.ID == "" {
			return nil, invalid("id is required")
		}
		t, err := s.transfers.Get(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		return t.Platform(), nil
	case "get_transactions":
		return s.getTransactions(ctx, &p)
	}
	return s.change(ctx, name, &p)
}

func paramError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be %s", te.Field, te.Type)
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return "times must be ISO 8601 (RFC 3339), e.g. 2026-01-02T15:04:05Z"
	}
	return err.Error()
}

// change runs a status-changing method through transfer.Service: state and parameter
// checks on the row as read in the database transaction, then a write that commits only over
// the version read (a call that changes nothing writes nothing).
func (s *Server) change(ctx context.Context, name string, p *params) (any, error) {
	if err := p.requireTransactionID(); err != nil {
		return nil, err
	}
	m := methods[name]
	t, err := s.transfers.Change(ctx, p.TransactionID, func(t *transfer.Transaction) error {
		if err := transfer.Allow(name, t); err != nil {
			return err
		}
		if err := m.check(p, t); err != nil {
			return err
		}
		m.apply(p, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t.Platform(), nil
}

func (s *Server) getTransactions(ctx context.Context, p *params) (any, error) {
	sep := fmt.Sprint(p.SEP)
	switch sep {
	case "6":
	case "<nil>", "":
		return nil, invalid("sep is required")
	default:
		return nil, invalid("sep[%s] is not supported: vaspgate serves SEP-6 only", sep)
	}
	f := transfer.PlatformFilter{OrderBy: p.OrderBy}
	switch strings.ToLower(p.Order) {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		return nil, invalid("order[%s] is not asc or desc", p.Order)
	}
	switch p.OrderBy {
	case "", "created_at", "updated_at", "transfer_received_at", "user_action_required_by":
	default:
		return nil, invalid("order_by[%s] is not created_at, updated_at, transfer_received_at or user_action_required_by", p.OrderBy)
	}
	for _, st := range p.Statuses {
		if !transfer.Status(st).Valid() {
			return nil, invalid("statuses: [%s] is not a SEP-6 status", st)
		}
		f.Statuses = append(f.Statuses, transfer.Status(st))
	}
	if p.PageSize != nil {
		if *p.PageSize < 1 || *p.PageSize > 200 {
			return nil, invalid("page_size should be between 1 and 200")
		}
		f.PageSize = *p.PageSize
	}
	if p.PageNumber != nil {
		if *p.PageNumber < 0 {
			return nil, invalid("page_number should be non-negative")
		}
		f.PageNumber = *p.PageNumber
	}
	txs, err := s.transfers.ListAll(ctx, f)
	if err != nil {
		return nil, err
	}
	records := make([]any, 0, len(txs))
	for i := range txs {
		records = append(records, txs[i].Platform())
	}
	return map[string]any{"records": records}, nil
}
