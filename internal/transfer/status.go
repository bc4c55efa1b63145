package transfer

import "slices"

// Status is a SEP-6 transaction status (stellar-seps.md 5.3).
type Status string

// SEP-6 statuses.
const (
	StatusIncomplete                   Status = "incomplete"
	StatusPendingCustomerInfoUpdate    Status = "pending_customer_info_update"
	StatusPendingTransactionInfoUpdate Status = "pending_transaction_info_update"
	StatusPendingUserTransferStart     Status = "pending_user_transfer_start"
	StatusPendingUserTransferComplete  Status = "pending_user_transfer_complete"
	StatusPendingExternal              Status = "pending_external"
	StatusPendingAnchor                Status = "pending_anchor"
	StatusOnHold                       Status = "on_hold"
	StatusPendingStellar               Status = "pending_stellar"
	StatusPendingTrust                 Status = "pending_trust"
	StatusPendingUser                  Status = "pending_user"
	StatusCompleted                    Status = "completed"
	StatusRefunded                     Status = "refunded"
	StatusExpired                      Status = "expired"
	StatusError                        Status = "error"
	StatusNoMarket                     Status = "no_market"
	StatusTooSmall                     Status = "too_small"
	StatusTooLarge                     Status = "too_large"
	// SEP-31 statuses (transfer/sep31.go): awaiting the sending anchor's payment, and
	// being processed by the receiving anchor.
	StatusPendingSender   Status = "pending_sender"
	StatusPendingReceiver Status = "pending_receiver"
)

// Terminal reports whether no further status change is expected (recovery aside).
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusRefunded, StatusExpired, StatusError,
		StatusNoMarket, StatusTooSmall, StatusTooLarge:
		return true
	}
	return false
}

// Valid reports whether s is a SEP-6 status.
func (s Status) Valid() bool { return slices.Contains(allStatuses, s) }

var allStatuses = []Status{
	StatusIncomplete, StatusPendingCustomerInfoUpdate, StatusPendingTransactionInfoUpdate,
	StatusPendingUserTransferStart, StatusPendingUserTransferComplete, StatusPendingExternal,
	StatusPendingAnchor, StatusOnHold, StatusPendingStellar, StatusPendingTrust, StatusPendingUser,
	StatusCompleted, StatusRefunded, StatusExpired, StatusError, StatusNoMarket, StatusTooSmall,
	StatusTooLarge, StatusPendingSender, StatusPendingReceiver,
}

// Kind is what a transaction does.
type Kind string

// SEP-6 kinds (the /transaction "kind" values).
const (
	KindDeposit            Kind = "deposit"
	KindDepositExchange    Kind = "deposit-exchange"
	KindWithdrawal         Kind = "withdrawal"
	KindWithdrawalExchange Kind = "withdrawal-exchange"
)

// Deposit reports whether the kind moves funds onto Stellar.
func (k Kind) Deposit() bool { return k == KindDeposit || k == KindDepositExchange }

// Withdrawal reports whether the kind moves funds off Stellar.
func (k Kind) Withdrawal() bool { return k == KindWithdrawal || k == KindWithdrawalExchange }

// Valid reports whether k is a kind of SEP-6 or SEP-31.
func (k Kind) Valid() bool { return k.Deposit() || k.Withdrawal() || k == KindReceive }

// SEP is the protocol the kind belongs to ("6" or "31"), as Anchor Platform's "sep".
func (k Kind) SEP() string {
	if k == KindReceive {
		return "31"
	}
	return "6"
}
