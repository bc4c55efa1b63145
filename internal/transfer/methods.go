package transfer

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// method is what a status-changing business method does beyond its row in Machine: check
// validates the parameters against the current transaction (nothing is written), apply
// edits the transaction and returns the status it leads to, which must be one of the row's
// targets. Both follow Anchor Platform 4.3.0's handler of the same name for SEP-6.
type method struct {
	check func(p *Params, t *Transaction, now time.Time) error
	apply func(p *Params, t *Transaction, now time.Time) Status
	// userAction: the method takes user_action_required_by (Anchor Platform's
	// SupportsUserActionRequiredBy).
	userAction bool
}

func nop(*Params, *Transaction, time.Time) error { return nil }

func fixed(s Status) func(*Params, *Transaction, time.Time) Status {
	return func(*Params, *Transaction, time.Time) Status { return s }
}

// methods are the SEP-6 methods Service.Apply runs. notify_customer_info_updated is not
// here: it needs the customer first (Service.ApplyCustomerStatus).
var methods = map[string]method{
	"request_offchain_funds": {
		check:      checkRequestFunds(false),
		apply:      applyRequestFunds,
		userAction: true,
	},
	"notify_offchain_funds_received": {
		check: checkFundsReceived,
		apply: func(p *Params, t *Transaction, now time.Time) Status {
			if p.ExternalTransactionID != "" {
				t.ExternalTransactionID = p.ExternalTransactionID
				if p.FundsReceivedAt != nil {
					t.TransferReceivedAt = micro(*p.FundsReceivedAt)
				}
			}
			if t.TransferReceivedAt == nil {
				t.TransferReceivedAt = &now
			}
			setReceivedAmounts(p, t)
			return StatusPendingAnchor
		},
	},
	"request_trust":    {check: nop, apply: fixed(StatusPendingTrust), userAction: true},
	"notify_trust_set": {check: nop, apply: fixed(StatusPendingAnchor)},
	"notify_onchain_funds_sent": {
		check: requireStellarTransaction,
		apply: func(p *Params, t *Transaction, now time.Time) Status {
			t.addStellarTransaction(p, now)
			return StatusCompleted
		},
	},
	"request_onchain_funds": {
		check: func(p *Params, t *Transaction, now time.Time) error {
			if err := checkRequestFunds(true)(p, t, now); err != nil {
				return err
			}
			if p.DestinationAccount == "" && t.WithdrawAnchorAccount == "" {
				return invalid("destination_account is required")
			}
			if p.Memo != "" {
				return checkMemo(p.Memo, memoTypeOf(p))
			}
			if p.MemoType != "" {
				return invalid("memo_type without memo")
			}
			return nil
		},
		apply: func(p *Params, t *Transaction, now time.Time) Status {
			applyRequestFunds(p, t, now)
			if p.DestinationAccount != "" {
				t.WithdrawAnchorAccount = p.DestinationAccount
			}
			if p.Memo != "" {
				t.WithdrawMemo, t.WithdrawMemoType = p.Memo, memoTypeOf(p)
			}
			return StatusPendingUserTransferStart
		},
		userAction: true,
	},
	"notify_onchain_funds_received": {
		check: func(p *Params, t *Transaction, now time.Time) error {
			if err := requireStellarTransaction(p, t, now); err != nil {
				return err
			}
			return checkFundsReceived(p, t, now)
		},
		apply: func(p *Params, t *Transaction, now time.Time) Status {
			t.addStellarTransaction(p, now)
			// Received when the ledger says so (Anchor Platform), else now.
			t.TransferReceivedAt = &now
			if p.ledgerTx != nil && !p.ledgerTx.CreatedAt.IsZero() {
				t.TransferReceivedAt = micro(p.ledgerTx.CreatedAt)
			}
			setReceivedAmounts(p, t)
			return t.working()
		},
	},
	"notify_offchain_funds_pending": {
		check: nop,
		apply: func(p *Params, t *Transaction, _ time.Time) Status {
			setExternal(p, t)
			return StatusPendingExternal
		},
		userAction: true,
	},
	"notify_offchain_funds_available": {
		check: nop,
		apply: func(p *Params, t *Transaction, _ time.Time) Status {
			setExternal(p, t)
			return StatusPendingUserTransferComplete
		},
		userAction: true,
	},
	"notify_offchain_funds_sent": {
		check: nop,
		apply: func(p *Params, t *Transaction, now time.Time) Status {
			if p.ExternalTransactionID == "" {
				if t.Kind.Deposit() {
					return StatusPendingExternal
				}
				if p.FundsSentAt != nil {
					t.CompletedAt = micro(*p.FundsSentAt)
				}
				return StatusCompleted
			}
			t.ExternalTransactionID = p.ExternalTransactionID
			if !t.Kind.Deposit() && p.FundsSentAt != nil {
				// vaspgate: the payout time, when the business knows it, is completed_at
				// (Anchor Platform ignores funds_sent_at for withdrawals).
				t.CompletedAt = micro(*p.FundsSentAt)
			}
			if t.Kind.Deposit() {
				// The user reports the off-chain payment: Anchor Platform records it as received.
				t.TransferReceivedAt = &now
				if p.FundsSentAt != nil {
					t.TransferReceivedAt = micro(*p.FundsSentAt)
				}
				return StatusPendingExternal
			}
			return StatusCompleted
		},
	},
	"notify_amounts_updated": {
		check: func(p *Params, t *Transaction, _ time.Time) error {
			if p.AmountOut == nil {
				return invalid("amount_out is required")
			}
			if err := checkAmount("amount_out", p.AmountOut, false); err != nil {
				return err
			}
			if p.FeeDetails == nil {
				return invalid("fee_details must be set")
			}
			return checkFeeFor(p.FeeDetails, t)
		},
		apply: func(p *Params, t *Transaction, _ time.Time) Status {
			t.AmountOut = &Amount{Amount: string(p.AmountOut.Amount), Asset: t.assetOut()}
			t.FeeDetails = p.FeeDetails.fee(t.feeAsset())
			return StatusPendingAnchor
		},
	},
	"notify_transaction_on_hold": {
		check: nop,
		apply: func(_ *Params, t *Transaction, now time.Time) Status {
			// Anchor Platform marks the funds as received when a transaction is put on hold.
			if t.TransferReceivedAt == nil {
				t.TransferReceivedAt = &now
			}
			return StatusOnHold
		},
		userAction: true,
	},
	"notify_refund_pending": {
		check: func(p *Params, t *Transaction, _ time.Time) error {
			if t.Kind.Withdrawal() {
				return nil // the refund is reported with notify_refund_sent
			}
			if p.Refund == nil {
				return invalid("refund must not be null")
			}
			total, err := checkRefund(p.Refund, t)
			if err != nil {
				return err
			}
			sum, _ := refunded(t, "")
			if in, _ := ParseDecimal(t.amountIn()); in != nil && total.Add(total, sum).Cmp(in) > 0 {
				return invalid("Refund amount exceeds amount_in")
			}
			return nil
		},
		apply: func(p *Params, t *Transaction, _ time.Time) Status {
			if t.Kind.Withdrawal() {
				return StatusPendingAnchor
			}
			t.addRefund(p.Refund, "external")
			return StatusPendingExternal
		},
	},
	"notify_refund_sent": {
		check: func(p *Params, t *Transaction, _ time.Time) error {
			_, err := refundSentTarget(p, t)
			return err
		},
		apply: func(p *Params, t *Transaction, _ time.Time) Status {
			next, _ := refundSentTarget(p, t)
			if p.Refund != nil {
				idType := "external"
				if !t.Kind.Deposit() {
					idType = "stellar"
				}
				t.addRefund(p.Refund, idType)
			}
			return next
		},
	},
	"notify_transaction_error":    {check: nop, apply: fixed(StatusError)},
	"notify_transaction_expired":  {check: nop, apply: fixed(StatusExpired)},
	"notify_transaction_recovery": {check: nop, apply: func(_ *Params, t *Transaction, _ time.Time) Status { return t.working() }},
}

// Methods returns the names of the methods Service.Apply runs, sorted.
func Methods() []string {
	out := make([]string, 0, len(methods))
	for m := range methods {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// ErrUnknownMethod: Service.Apply has no such method.
var ErrUnknownMethod = errors.New("transfer: unknown method")

// Apply runs business method name on transaction p.TransactionID: the state machine's row
// (Machine), the method's parameter checks, its edits, then the commit with the callbacks and
// events it causes (Change). Nothing is written when any check fails.
func (s *Service) Apply(ctx context.Context, name string, p Params) (Transaction, error) {
	m, ok := methods[name]
	if !ok {
		return Transaction{}, ErrUnknownMethod
	}
	if strings.TrimSpace(p.TransactionID) == "" {
		return Transaction{}, invalid("transaction_id is required")
	}
	if s.gate != nil {
		cur, err := s.Get(ctx, p.TransactionID)
		if err != nil {
			return Transaction{}, err
		}
		if err := s.gate.Before(ctx, name, &cur); err != nil {
			return Transaction{}, err
		}
		t, err := s.apply(ctx, name, m, p)
		if err == nil {
			s.gate.After(ctx, name, &cur, &t)
		}
		return t, err
	}
	return s.apply(ctx, name, m, p)
}

func (s *Service) apply(ctx context.Context, name string, m method, p Params) (Transaction, error) {
	if err := s.readLedger(ctx, name, &p); err != nil {
		return Transaction{}, err
	}
	ctx = s.checkHash(ctx, name, &p)
	now := s.Now()
	return s.Change(ctx, p.TransactionID, func(t *Transaction) error {
		targets, err := Allow(name, t)
		if err != nil {
			return err
		}
		if m.userAction && p.UserActionRequiredBy != nil && p.UserActionRequiredBy.Before(now) {
			return invalid("user_action_required_by can not be in the past")
		}
		if err := m.check(&p, t, now); err != nil {
			return err
		}
		from := t.Status
		next := m.apply(&p, t, now)
		if !slices.Contains(targets, next) {
			// A method's code disagrees with its row: a bug here, never the caller's fault.
			return errors.New("transfer: " + name + " chose " + string(next) + ", which its row does not list")
		}
		return move(t, from, next, p.Message, m.userAction, p.UserActionRequiredBy)
	})
}

func isErrorStatus(s Status) bool { return s == StatusError || s == StatusExpired }

// move finishes a method as Anchor Platform's RpcTransactionStatusHandler.updateTransaction
// does: message required for error and expired, user_action_required_by replaced (cleared
// unless the method takes it and it is given), message set, or cleared when a transaction
// leaves error or expired without one.
func move(t *Transaction, from, next Status, message string, userAction bool, by *time.Time) error {
	if isErrorStatus(next) && message == "" {
		return invalid("message is required")
	}
	t.UserActionRequiredBy = nil
	if userAction && by != nil {
		t.UserActionRequiredBy = micro(*by)
	}
	t.Status = next
	switch {
	case message != "":
		t.Message = message
	case !isErrorStatus(next) && isErrorStatus(from):
		t.Message = ""
	}
	return nil
}

func micro(t time.Time) *time.Time {
	v := t.UTC().Truncate(time.Microsecond)
	return &v
}

func setExternal(p *Params, t *Transaction) {
	if p.ExternalTransactionID != "" {
		t.ExternalTransactionID = p.ExternalTransactionID
	}
}

func requireStellarTransaction(p *Params, _ *Transaction, _ time.Time) error {
	if strings.TrimSpace(p.StellarTransactionID) == "" {
		return invalid("stellar_transaction_id is required")
	}
	return nil
}

// checkRequestFunds is request_offchain_funds (onchain false) and request_onchain_funds
// (onchain true): amounts all or none, assets on the right side of Stellar, and what the
// transaction lacks must be given.
func checkRequestFunds(onchain bool) func(p *Params, t *Transaction, _ time.Time) error {
	return func(p *Params, t *Transaction, _ time.Time) error {
		none := p.AmountIn == nil && p.FeeDetails == nil && p.AmountExpected == nil
		all := p.AmountIn != nil && p.FeeDetails != nil
		if !none && !all {
			return invalid("All (amount_out is optional) or none of the amount_in, amount_out, and fee_details should be set")
		}
		// Deposits take fiat in and pay a Stellar asset out; withdrawals the other way round.
		side := func(name, asset string, stellar bool) error {
			if asset == "" || isStellarAsset(asset) == stellar {
				return nil
			}
			if stellar {
				return invalid("%s.asset should be stellar asset", name)
			}
			return invalid("%s.asset should be non-stellar asset", name)
		}
		if p.AmountIn != nil {
			if err := errors.Join(side("amount_in", p.AmountIn.Asset, onchain), checkAmount("amount_in", p.AmountIn, false)); err != nil {
				return err
			}
		}
		if p.AmountOut != nil {
			if err := errors.Join(side("amount_out", p.AmountOut.Asset, !onchain), checkAmount("amount_out", p.AmountOut, false)); err != nil {
				return err
			}
		}
		if p.FeeDetails != nil {
			if err := errors.Join(side("fee_details", p.FeeDetails.Asset, onchain), checkFeeFor(p.FeeDetails, t)); err != nil {
				return err
			}
		}
		if err := checkAmount("amount_expected", p.AmountExpected, false); err != nil {
			return err
		}
		if p.AmountIn == nil && t.AmountIn == nil {
			return invalid("amount_in is required")
		}
		if p.AmountOut == nil && t.AmountOut == nil {
			if t.QuoteID != "" {
				return invalid("amount_out is required for transactions with firm quotes")
			}
			if t.AmountIn == nil || t.AmountIn.Asset == "" {
				// Anchor Platform compares the stored in and out assets, both unset here.
				return invalid("amount_out is required for non-exchange transactions")
			}
		}
		if p.FeeDetails == nil && t.FeeDetails == nil {
			if onchain {
				return invalid("fee_details or amount_fee is required")
			}
			return invalid("fee_details is required")
		}
		return nil
	}
}

func applyRequestFunds(p *Params, t *Transaction, _ time.Time) Status {
	if p.AmountIn != nil {
		t.AmountIn = p.AmountIn.amount(t.assetIn())
	}
	if p.AmountOut != nil {
		t.AmountOut = p.AmountOut.amount(t.assetOut())
	}
	if p.FeeDetails != nil {
		t.FeeDetails = p.FeeDetails.fee(t.feeAsset())
	}
	switch {
	case p.AmountExpected != nil:
		t.AmountExpected = &Amount{Amount: string(p.AmountExpected.Amount), Asset: t.assetIn()}
	case p.AmountIn != nil:
		t.AmountExpected = &Amount{Amount: string(p.AmountIn.Amount), Asset: t.AmountIn.Asset}
	}
	if p.Instructions != nil {
		t.Instructions = p.Instructions
	}
	return StatusPendingUserTransferStart
}

// checkFundsReceived is notify_offchain_funds_received and notify_onchain_funds_received:
// all amounts, none, or amount_in only.
func checkFundsReceived(p *Params, t *Transaction, _ time.Time) error {
	none := p.AmountIn == nil && p.AmountOut == nil && p.FeeDetails == nil
	all := p.AmountIn != nil && p.AmountOut != nil && p.FeeDetails != nil
	inOnly := p.AmountIn != nil && p.AmountOut == nil && p.FeeDetails == nil
	if !none && !all && !inOnly {
		return invalid("Invalid amounts combination provided: all, none or only amount_in should be set")
	}
	return errors.Join(checkAmount("amount_in", p.AmountIn, false), checkAmount("amount_out", p.AmountOut, false),
		checkFeeFor(p.FeeDetails, t))
}

// setReceivedAmounts: these methods take amounts without assets (Anchor Platform's
// AmountRequest), so the transaction's assets stay.
func setReceivedAmounts(p *Params, t *Transaction) {
	if p.AmountIn != nil {
		t.AmountIn = &Amount{Amount: string(p.AmountIn.Amount), Asset: t.assetIn()}
	}
	if p.AmountOut != nil {
		t.AmountOut = &Amount{Amount: string(p.AmountOut.Amount), Asset: t.assetOut()}
	}
	if p.FeeDetails != nil {
		t.FeeDetails = p.FeeDetails.fee(t.feeAsset())
	}
}

// checkFeeFor validates fee_details and, once the transaction has a fee asset, that the fee
// is in it.
func checkFeeFor(f *FeeParam, t *Transaction) error {
	if f == nil {
		return nil
	}
	if err := checkFee(f); err != nil {
		return err
	}
	if t.FeeDetails != nil && t.FeeDetails.Asset != "" && f.Asset != "" && f.Asset != t.FeeDetails.Asset {
		return invalid("fee_details.asset is different from expected database asset (%s)", t.FeeDetails.Asset)
	}
	return nil
}

// memoTypeOf: a memo without memo_type is an id memo (Anchor Platform's makeMemo(memo, "id")).
func memoTypeOf(p *Params) string {
	if p.MemoType == "" {
		return "id"
	}
	return p.MemoType
}

func checkMemo(memo, typ string) error {
	switch typ {
	case "id":
		if _, err := strconv.ParseUint(memo, 10, 64); err != nil {
			return invalid("Invalid id memo: %s is not a 64-bit unsigned integer", memo)
		}
	case "text":
		if len(memo) > 28 {
			return invalid("memo of type text is longer than 28 bytes")
		}
	case "hash":
		if len(memo) == 0 {
			return invalid("memo of type hash is empty")
		}
	default:
		return invalid("memo_type[%s] is not text, id or hash", typ)
	}
	return nil
}

// checkRefund validates a refund parameter against the transaction (amounts, assets of
// amount_in and of the fee) and returns amount plus fee.
func checkRefund(r *RefundParam, t *Transaction) (*big.Rat, error) {
	if r.ID == "" {
		return nil, invalid("refund.id is required")
	}
	if r.Amount == nil || r.AmountFee == nil {
		return nil, invalid("refund.amount and refund.amount_fee are required")
	}
	if err := errors.Join(checkAmount("refund.amount", r.Amount, false), checkAmount("refund.amount_fee", r.AmountFee, true)); err != nil {
		return nil, err
	}
	if t.AmountIn == nil {
		return nil, invalid("the transaction has no amount_in to refund")
	}
	if r.Amount.Asset != "" && r.Amount.Asset != t.AmountIn.Asset {
		return nil, invalid("refund.amount.asset does not match transaction amount_in_asset")
	}
	if r.AmountFee.Asset != "" && r.AmountFee.Asset != t.feeAsset() {
		return nil, invalid("refund.amount_fee.asset does not match match transaction amount_fee_asset")
	}
	amt, _ := ParseDecimal(string(r.Amount.Amount))
	fee, _ := ParseDecimal(string(r.AmountFee.Amount))
	return new(big.Rat).Add(amt, fee), nil
}

// refundSentTarget is notify_refund_sent's choice (Anchor Platform's getNextStatus): the sum
// refunded, this refund included, equal to amount_in makes the transaction refunded, below
// it pending_anchor, above it is refused. From pending_anchor the refund is a new one; from
// pending_external or pending_stellar it confirms one announced by notify_refund_pending
// (its id must be known), or, without a refund, the sum announced so far.
func refundSentTarget(p *Params, t *Transaction) (Status, error) {
	r := p.Refund
	if r == nil && (t.Status == t.working() || t.Refunds == nil || len(t.Refunds.Payments) == 0) {
		return "", invalid("refund is required")
	}
	var total *big.Rat
	if r != nil {
		this, err := checkRefund(r, t)
		if err != nil {
			return "", err
		}
		switch {
		case t.Refunds == nil || len(t.Refunds.Payments) == 0:
			total = this
		case t.Status == t.working():
			sum, _ := refunded(t, "")
			total = sum.Add(sum, this)
		default:
			if !slices.ContainsFunc(t.Refunds.Payments, func(x RefundPayment) bool { return x.ID == r.ID }) {
				return "", invalid("Invalid refund id")
			}
			sum, _ := refunded(t, r.ID)
			total = sum.Add(sum, this)
		}
	} else {
		total, _ = refunded(t, "")
	}
	in, ok := ParseDecimal(t.amountIn())
	if !ok {
		return "", invalid("the transaction has no amount_in to refund")
	}
	switch total.Cmp(in) {
	case 0:
		return StatusRefunded, nil
	case -1:
		return t.working(), nil
	}
	return "", invalid("Refund amount exceeds amount_in")
}

// refunded sums the recorded refund payments other than except (amounts plus fees).
func refunded(t *Transaction, except string) (*big.Rat, int) {
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
		if a, ok := ParseDecimal(pay.Amount.Amount); ok {
			sum.Add(sum, a)
		}
		if f, ok := ParseDecimal(pay.Fee.Amount); ok {
			sum.Add(sum, f)
		}
	}
	return sum, n
}

// addRefund records a refund payment (replacing one with the same id) and the totals.
func (t *Transaction) addRefund(r *RefundParam, idType string) {
	asset := t.AmountIn.Asset
	pay := RefundPayment{ID: r.ID, IDType: idType, Amount: *r.Amount.amount(asset), Fee: *r.AmountFee.amount(t.feeAsset())}
	if t.Refunds == nil {
		t.Refunds = &Refunds{}
	}
	t.Refunds.Payments = slices.DeleteFunc(t.Refunds.Payments, func(x RefundPayment) bool { return x.ID == pay.ID })
	t.Refunds.Payments = append(t.Refunds.Payments, pay)
	amt, fee := new(big.Rat), new(big.Rat)
	for _, pay := range t.Refunds.Payments {
		if a, ok := ParseDecimal(pay.Amount.Amount); ok {
			amt.Add(amt, a)
		}
		if f, ok := ParseDecimal(pay.Fee.Amount); ok {
			fee.Add(fee, f)
		}
	}
	t.Refunds.AmountRefunded = Amount{Amount: ratString(new(big.Rat).Add(amt, fee)), Asset: asset}
	t.Refunds.AmountFee = Amount{Amount: ratString(fee), Asset: t.feeAsset()}
}
