package transfer

import (
	"fmt"
	"slices"
)

// Flow is the direction a transaction's funds take, which is what the state machine's rows
// depend on (a deposit and a deposit-exchange follow the same rows).
type Flow string

// Flows of SEP-6.
const (
	FlowDeposit    Flow = "deposit"
	FlowWithdrawal Flow = "withdrawal"
)

// Flow returns the flow whose rows govern the kind, or "" for an unknown kind.
func (k Kind) Flow() Flow {
	switch {
	case k.Deposit():
		return FlowDeposit
	case k.Withdrawal():
		return FlowWithdrawal
	case k == KindReceive:
		return FlowReceive
	}
	return ""
}

// Funds is the guard a row puts on whether the user's funds were received
// (transfer_received_at set).
type Funds uint8

// Funds guards.
const (
	// FundsAny: the row applies whether or not funds were received.
	FundsAny Funds = iota
	// FundsReceived: the row applies only once funds were received.
	FundsReceived
	// FundsNotReceived: the row applies only while funds were not received.
	FundsNotReceived
)

func (f Funds) admits(received bool) bool {
	switch f {
	case FundsReceived:
		return received
	case FundsNotReceived:
		return !received
	}
	return true
}

// Source is one status a method may act from, with its guard on received funds.
type Source struct {
	Status Status
	Funds  Funds
}

// Step is what a method does to a transaction of one flow: the statuses it may act from and
// the statuses it may lead to. To has one status when the target is fixed; several when the
// method's parameters choose (notify_refund_sent: refunded or pending_anchor;
// notify_customer_info_updated: by the customer's SEP-12 status). A method's code can only
// pick a target listed here: Service.Apply refuses any other.
type Step struct {
	From []Source
	To   []Status
}

// Machine is the state machine of business methods: method -> flow -> step. It is the one
// source of truth for which method may move which transaction where; package rpc and the
// REST platform API only decode parameters and call Service.Apply, which checks it.
//
// The rows are Anchor Platform 4.3.0's getSupportedStatuses and getNextStatus of each RPC
// handler (platform/src/main/java/org/stellar/anchor/platform/rpc), for SEP-6, with one
// vaspgate rule on top: a transaction is never completed unless its funds were received
// (Anchor Platform lets notify_onchain_funds_sent complete a deposit from pending_stellar,
// and notify_offchain_funds_sent a withdrawal from pending_external or
// pending_user_transfer_complete, without that check). docs/anchor-platform.md lists the
// difference; docs/state_machine.md draws the table.
//
// Extension point (SEP-31 and later protocols): a protocol adds a Flow of its own (for
// example FlowReceive), maps its kinds to it in Kind.Flow, writes its rows as a
// map[string]Step in its own file (method -> step, like depositSteps below), and adds that
// map to the list given to buildMachine. Nothing else changes: Allow, Service.Apply, the
// RPC envelope and the transition-table test all read Machine.
var Machine = buildMachine(map[Flow]map[string]Step{
	FlowDeposit:    depositSteps,
	FlowWithdrawal: withdrawalSteps,
	FlowReceive:    receiveSteps,
})

func buildMachine(flows map[Flow]map[string]Step) map[string]map[Flow]Step {
	m := map[string]map[Flow]Step{}
	for flow, steps := range flows {
		for method, st := range steps {
			if m[method] == nil {
				m[method] = map[Flow]Step{}
			}
			m[method][flow] = st
		}
	}
	return m
}

func from(f Funds, statuses ...Status) []Source {
	out := make([]Source, len(statuses))
	for i, s := range statuses {
		out[i] = Source{Status: s, Funds: f}
	}
	return out
}

func to(statuses ...Status) []Status { return statuses }

// openStatuses are the statuses notify_transaction_error and _expired act from: every status
// but error, expired, completed and refunded (Anchor Platform's !isErrorStatus &&
// !isFinalStatus, so no_market, too_small and too_large are included).
func openStatuses() []Status {
	return slices.DeleteFunc(slices.Clone(allStatuses), func(s Status) bool {
		return s == StatusError || s == StatusExpired || s == StatusCompleted || s == StatusRefunded
	})
}

// customerTargets are the statuses notify_customer_info_updated leads to, by SEP-12 status.
var customerTargets = to(StatusPendingAnchor, StatusPendingCustomerInfoUpdate, StatusError)

// Rows shared by both SEP-6 flows.
func commonSteps(m map[string]Step) map[string]Step {
	m["notify_customer_info_updated"] = Step{
		From: from(FundsAny, StatusIncomplete, StatusPendingAnchor, StatusPendingCustomerInfoUpdate),
		To:   customerTargets,
	}
	m["notify_amounts_updated"] = Step{From: from(FundsReceived, StatusPendingAnchor), To: to(StatusPendingAnchor)}
	m["notify_transaction_error"] = Step{From: from(FundsAny, openStatuses()...), To: to(StatusError)}
	m["notify_transaction_expired"] = Step{From: from(FundsNotReceived, openStatuses()...), To: to(StatusExpired)}
	m["notify_transaction_recovery"] = Step{From: from(FundsReceived, StatusError, StatusExpired), To: to(StatusPendingAnchor)}
	return m
}

var depositSteps = commonSteps(map[string]Step{
	"request_offchain_funds": {
		From: append(from(FundsAny, StatusIncomplete), from(FundsNotReceived, StatusPendingAnchor, StatusPendingCustomerInfoUpdate)...),
		To:   to(StatusPendingUserTransferStart),
	},
	"notify_offchain_funds_received": {
		From: from(FundsAny, StatusPendingUserTransferStart, StatusOnHold, StatusPendingExternal),
		To:   to(StatusPendingAnchor),
	},
	"request_trust":    {From: from(FundsReceived, StatusPendingAnchor), To: to(StatusPendingTrust)},
	"notify_trust_set": {From: from(FundsAny, StatusPendingTrust), To: to(StatusPendingAnchor)},
	// Anchor Platform: pending_stellar whatever the funds; vaspgate: never completed unpaid.
	"notify_onchain_funds_sent": {From: from(FundsReceived, StatusPendingStellar, StatusPendingAnchor), To: to(StatusCompleted)},
	// The user reports having sent the off-chain funds.
	"notify_offchain_funds_sent": {From: from(FundsAny, StatusPendingUserTransferStart), To: to(StatusPendingExternal)},
	// Anchor Platform sets on_hold from pending_user_transfer_start only, for deposits.
	"notify_transaction_on_hold": {From: from(FundsAny, StatusPendingUserTransferStart), To: to(StatusOnHold)},
	"notify_refund_pending":      {From: from(FundsAny, StatusPendingAnchor), To: to(StatusPendingExternal)},
	"notify_refund_sent": {
		From: from(FundsReceived, StatusPendingExternal, StatusPendingAnchor),
		To:   to(StatusRefunded, StatusPendingAnchor),
	},
})

var withdrawalSteps = commonSteps(map[string]Step{
	"request_onchain_funds": {
		From: append(from(FundsAny, StatusIncomplete, StatusPendingCustomerInfoUpdate), from(FundsNotReceived, StatusPendingAnchor)...),
		To:   to(StatusPendingUserTransferStart),
	},
	"notify_onchain_funds_received": {
		From: from(FundsAny, StatusPendingUserTransferStart, StatusOnHold),
		To:   to(StatusPendingAnchor),
	},
	"notify_offchain_funds_pending":   {From: from(FundsReceived, StatusPendingAnchor), To: to(StatusPendingExternal)},
	"notify_offchain_funds_available": {From: from(FundsReceived, StatusPendingAnchor, StatusOnHold), To: to(StatusPendingUserTransferComplete)},
	// Anchor Platform: pending_user_transfer_complete and pending_external whatever the
	// funds; vaspgate: never completed unpaid.
	"notify_offchain_funds_sent": {
		From: from(FundsReceived, StatusPendingAnchor, StatusPendingUserTransferComplete, StatusPendingExternal),
		To:   to(StatusCompleted),
	},
	"notify_transaction_on_hold": {From: from(FundsAny, StatusPendingUserTransferStart, StatusPendingAnchor), To: to(StatusOnHold)},
	// A withdrawal's refund starts after the payout failed: back to pending_anchor, where
	// notify_refund_sent records the refund.
	"notify_refund_pending": {From: from(FundsAny, StatusPendingUserTransferComplete, StatusPendingExternal), To: to(StatusPendingAnchor)},
	"notify_refund_sent": {
		From: append(from(FundsAny, StatusPendingStellar), from(FundsReceived, StatusPendingAnchor)...),
		To:   to(StatusRefunded, StatusPendingAnchor),
	},
})

// TransitionError: the method may not act on the transaction in its current state.
type TransitionError struct {
	Method        string
	Status        Status
	Kind          Kind
	FundsReceived bool
}

func (e *TransitionError) Error() string {
	// Anchor Platform's wording, so business servers matching on it keep working.
	return fmt.Sprintf("RPC method[%s] is not supported. Status[%s], kind[%s], protocol[%s], funds received[%t]",
		e.Method, e.Status, e.Kind, e.Kind.SEP(), e.FundsReceived)
}

// Allow checks that method may act on t now and returns the statuses it may lead to. It
// returns a *TransitionError when it may not, and an error naming the method when Machine
// has no such method.
func Allow(method string, t *Transaction) ([]Status, error) {
	flows, ok := Machine[method]
	if !ok {
		return nil, fmt.Errorf("transfer: no status rule for method %q", method)
	}
	st, ok := flows[t.Kind.Flow()]
	if ok {
		received := t.FundsReceived()
		ok = slices.ContainsFunc(st.From, func(s Source) bool { return s.Status == t.Status && s.Funds.admits(received) })
	}
	if !ok {
		return nil, &TransitionError{Method: method, Status: t.Status, Kind: t.Kind, FundsReceived: t.FundsReceived()}
	}
	return st.To, nil
}
