package transfer

import (
	"fmt"
	"slices"
)

// Rule says from which statuses a business RPC method may act on a transaction, per kind,
// and which status it leads to (anchor-platform-compat.md section 3, SEP-6 view). To is
// empty where the next status depends on the parameters.
type Rule struct {
	Method string
	// Deposit and Withdrawal list the allowed current statuses per kind; nil means the
	// method does not apply to that kind. AnyOpen stands for every non-terminal status.
	Deposit, Withdrawal []Status
	// FundsReceived: the method needs the user's funds to have been received.
	FundsReceived bool
	// NotFundsReceived: the method is refused once funds were received.
	NotFundsReceived bool
	To               Status
}

// AnyOpen in a Rule's status list means: any non-terminal status.
const AnyOpen Status = "*"

var (
	open     = []Status{AnyOpen}
	kycFrom  = []Status{StatusIncomplete, StatusPendingAnchor, StatusPendingCustomerInfoUpdate}
	holdFrom = []Status{StatusPendingAnchor, StatusPendingUserTransferStart}
)

// Rules are the status rules of every RPC method that changes a SEP-6 transaction.
var Rules = map[string]Rule{
	"request_offchain_funds":          {Deposit: kycFrom, To: StatusPendingUserTransferStart},
	"notify_offchain_funds_received":  {Deposit: []Status{StatusPendingUserTransferStart, StatusPendingExternal, StatusOnHold}, To: StatusPendingAnchor},
	"request_trust":                   {Deposit: []Status{StatusPendingAnchor}, To: StatusPendingTrust},
	"notify_trust_set":                {Deposit: []Status{StatusPendingTrust}, To: StatusPendingAnchor},
	"notify_onchain_funds_sent":       {Deposit: []Status{StatusPendingAnchor, StatusPendingStellar}, To: StatusCompleted},
	"request_onchain_funds":           {Withdrawal: kycFrom, To: StatusPendingUserTransferStart},
	"notify_onchain_funds_received":   {Withdrawal: []Status{StatusPendingUserTransferStart, StatusOnHold}, To: StatusPendingAnchor},
	"notify_offchain_funds_pending":   {Withdrawal: []Status{StatusPendingAnchor}, To: StatusPendingExternal},
	"notify_offchain_funds_available": {Withdrawal: []Status{StatusPendingAnchor, StatusOnHold}, To: StatusPendingUserTransferComplete},
	// Deposit: the user reports having sent the off-chain funds; withdrawal: the anchor paid out.
	"notify_offchain_funds_sent": {
		Deposit:    []Status{StatusPendingUserTransferStart},
		Withdrawal: []Status{StatusPendingAnchor, StatusPendingExternal, StatusPendingUserTransferComplete, StatusOnHold},
	},
	"notify_amounts_updated":       {Deposit: []Status{StatusPendingAnchor}, Withdrawal: []Status{StatusPendingAnchor}, To: StatusPendingAnchor},
	"notify_customer_info_updated": {Deposit: kycFrom, Withdrawal: kycFrom},
	"notify_transaction_on_hold":   {Deposit: holdFrom, Withdrawal: holdFrom, To: StatusOnHold},
	"notify_refund_pending": {Deposit: []Status{StatusPendingAnchor}, Withdrawal: []Status{StatusPendingAnchor},
		FundsReceived: true, To: StatusPendingExternal},
	"notify_refund_sent": {
		Deposit:       []Status{StatusPendingAnchor, StatusPendingExternal, StatusOnHold},
		Withdrawal:    []Status{StatusPendingAnchor, StatusPendingExternal, StatusPendingStellar, StatusOnHold},
		FundsReceived: true,
	},
	"notify_transaction_error":    {Deposit: open, Withdrawal: open, To: StatusError},
	"notify_transaction_expired":  {Deposit: open, Withdrawal: open, NotFundsReceived: true, To: StatusExpired},
	"notify_transaction_recovery": {Deposit: []Status{StatusError, StatusExpired}, Withdrawal: []Status{StatusError, StatusExpired}, To: StatusPendingAnchor},
}

// TransitionError: the method may not act on the transaction in its current state.
type TransitionError struct {
	Method        string
	Status        Status
	Kind          Kind
	FundsReceived bool
}

func (e *TransitionError) Error() string {
	// Anchor Platform's wording, so business servers matching on it keep working.
	return fmt.Sprintf("RPC method[%s] is not supported. Status[%s], kind[%s], protocol[6], funds received[%t]",
		e.Method, e.Status, e.Kind, e.FundsReceived)
}

// Allow checks that method may act on t now. It returns a *TransitionError when it may not,
// and an error naming the method when no rule exists for it.
func Allow(method string, t *Transaction) error {
	r, ok := Rules[method]
	if !ok {
		return fmt.Errorf("transfer: no status rule for method %q", method)
	}
	from := r.Deposit
	if t.Kind.Withdrawal() {
		from = r.Withdrawal
	}
	ok = slices.Contains(from, t.Status) || (slices.Contains(from, AnyOpen) && !t.Status.Terminal())
	if ok && r.FundsReceived && !t.FundsReceived() {
		ok = false
	}
	if ok && r.NotFundsReceived && t.FundsReceived() {
		ok = false
	}
	if !ok {
		return &TransitionError{Method: method, Status: t.Status, Kind: t.Kind, FundsReceived: t.FundsReceived()}
	}
	return nil
}
