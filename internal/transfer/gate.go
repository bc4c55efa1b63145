package transfer

import "context"

// Gate may hold a business method on a transaction for a reason outside the state machine:
// the Travel Rule holds a deposit to another VASP's customer until its verification is
// VERIFIED. Before runs before the change and refuses it with an error (nothing changes);
// After runs once the change has committed (to report it onwards), with the transaction as
// it was before (prev) and after (t): whether a method took it out of on_hold is read from
// both, never guessed from the method's name. Every path that runs a business method goes
// through the gate: Service.Apply (the business, operators) and a payment the observer
// matches (Service.AdmitPayment, ReceivePaymentTx, Service.PaymentReceived).
type Gate interface {
	Before(ctx context.Context, method string, t *Transaction) error
	After(ctx context.Context, method string, prev, t *Transaction)
}

// HoldError is a gate's refusal: Msg says why and what releases the hold (safe to show).
type HoldError struct{ Msg string }

func (e *HoldError) Error() string { return e.Msg }

// Gate returns the configured gate, or nil.
func (s *Service) Gate() Gate { return s.gate }

// TravelRuleVerification is a Travel Rule verification a transaction is linked to, as the
// business reads it on the transaction (vaspgate, additive to Anchor Platform's shape). It is
// filled on reads (RPC get_transaction(s), REST GET /transactions) from the travel-rule
// records, never stored on the transaction, so it is always the verification's current state.
type TravelRuleVerification struct {
	VerificationUUID string `json:"verification_uuid"`
	// Role is originator (vaspgate sends the funds) or beneficiary (vaspgate receives them).
	Role      string `json:"role"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	RiskLevel string `json:"risk_level,omitempty"`
	TxHash    string `json:"tx_hash,omitempty"`
	// Hold says whether the verification's risk put the transaction on hold: "held" (until
	// released), "released", or "" when it did not.
	Hold string `json:"hold,omitempty"`
}

// AwaitingPayment returns the open transactions paid to the anchor's account whose funds were
// not received yet (newest first, at most 1000): SEP-6 withdrawals the user pays and SEP-31
// receives the sending anchor pays (pending_sender). They are the candidates a payment to
// that account may be for (the Travel Rule links a counterparty's verification to one of
// them). The candidates come from the status index; the account is compared in Go because it
// lives in the transaction's data.
func (s *Service) AwaitingPayment(ctx context.Context, account string) ([]Transaction, error) {
	txs, err := s.query(ctx, s.db, "SELECT "+columns+` FROM transfer_transactions
	WHERE status IN (?, ?, ?, ?, ?) AND kind IN (?, ?, ?) AND transfer_received_at IS NULL ORDER BY id DESC LIMIT 1000`,
		string(StatusIncomplete), string(StatusPendingCustomerInfoUpdate), string(StatusPendingAnchor),
		string(StatusPendingUserTransferStart), string(StatusPendingSender),
		string(KindWithdrawal), string(KindWithdrawalExchange), string(KindReceive))
	if err != nil {
		return nil, err
	}
	out := txs[:0]
	for _, t := range txs {
		if t.WithdrawAnchorAccount == account {
			out = append(out, t)
		}
	}
	return out, nil
}

// WithdrawalByPayment returns the withdrawal (or SEP-31 receive) whose recorded incoming
// payment (its last Stellar transaction) is hash, or ErrNotFound.
func (s *Service) WithdrawalByPayment(ctx context.Context, hash string) (Transaction, error) {
	txs, err := s.query(ctx, s.db, "SELECT "+columns+` FROM transfer_transactions
	WHERE stellar_transaction_id = ? AND kind IN (?, ?, ?) ORDER BY id DESC LIMIT 1`,
		hash, string(KindWithdrawal), string(KindWithdrawalExchange), string(KindReceive))
	if err != nil {
		return Transaction{}, err
	}
	if len(txs) == 0 {
		return Transaction{}, ErrNotFound
	}
	return txs[0], nil
}
