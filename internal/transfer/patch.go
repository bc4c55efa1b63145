package transfer

import (
	"context"
	"slices"
	"strings"
	"time"
)

// PatchTransaction is one record of Anchor Platform's PATCH /transactions body
// (PlatformTransactionData): the fields a SEP-6 transaction takes from it. Absent fields stay.
type PatchTransaction struct {
	ID                    string                 `json:"id"`
	Status                Status                 `json:"status"`
	AmountIn              *AmountParam           `json:"amount_in"`
	AmountOut             *AmountParam           `json:"amount_out"`
	FeeDetails            *FeeParam              `json:"fee_details"`
	TransferReceivedAt    *time.Time             `json:"transfer_received_at"`
	UserActionRequiredBy  *time.Time             `json:"user_action_required_by"`
	ExternalTransactionID string                 `json:"external_transaction_id"`
	StellarTransactions   []StellarTransaction   `json:"stellar_transactions"`
	Message               string                 `json:"message"`
	RequiredInfoMessage   string                 `json:"required_info_message"`
	RequiredInfoUpdates   []string               `json:"required_info_updates"`
	Instructions          map[string]Instruction `json:"instructions"`
}

// Patch applies Anchor Platform's PATCH /transactions record to a transaction through the
// same state machine as the business methods: a new status is accepted only when some
// method's row leads there from the transaction's current state (Anchor Platform writes any
// status), and the change commits with its callbacks and events like any other. Times that
// vaspgate keeps itself (started_at, updated_at, completed_at) are not taken.
func (s *Service) Patch(ctx context.Context, p PatchTransaction) (Transaction, error) {
	if strings.TrimSpace(p.ID) == "" {
		return Transaction{}, invalid("transaction.id is required")
	}
	if p.Status != "" && !p.Status.Valid() {
		return Transaction{}, invalid("invalid status(%s)", p.Status)
	}
	for name, a := range map[string]*AmountParam{"amount_in": p.AmountIn, "amount_out": p.AmountOut} {
		if err := checkAmount(name, a, false); err != nil {
			return Transaction{}, err
		}
	}
	if err := checkFee(p.FeeDetails); err != nil {
		return Transaction{}, err
	}
	return s.Change(ctx, p.ID, func(t *Transaction) error {
		from := t.Status
		if p.AmountIn != nil {
			t.AmountIn = p.AmountIn.amount(t.assetIn())
		}
		if p.AmountOut != nil {
			t.AmountOut = p.AmountOut.amount(t.assetOut())
		}
		if p.FeeDetails != nil {
			t.FeeDetails = p.FeeDetails.fee(t.feeAsset())
		}
		if p.TransferReceivedAt != nil {
			t.TransferReceivedAt = micro(*p.TransferReceivedAt)
		}
		if p.UserActionRequiredBy != nil {
			t.UserActionRequiredBy = micro(*p.UserActionRequiredBy)
		}
		if p.ExternalTransactionID != "" {
			t.ExternalTransactionID = p.ExternalTransactionID
		}
		if p.StellarTransactions != nil {
			t.StellarTransactions = p.StellarTransactions
			// The newest is the transfer's stellar_transaction_id (Anchor Platform).
			newest := slices.MaxFunc(p.StellarTransactions, func(a, b StellarTransaction) int { return a.CreatedAt.Compare(b.CreatedAt) })
			t.StellarTransactionID = newest.ID
		}
		if p.RequiredInfoMessage != "" {
			t.RequiredInfoMessage = p.RequiredInfoMessage
		}
		if p.RequiredInfoUpdates != nil {
			t.RequiredInfoUpdates = p.RequiredInfoUpdates
		}
		if p.Instructions != nil {
			t.Instructions = p.Instructions
		}
		if p.Message != "" {
			t.Message = p.Message
		}
		if p.Status == "" || p.Status == from {
			return nil
		}
		if !Reachable(t, from, p.Status) {
			return &TransitionError{Method: "PATCH /transactions", Status: from, Kind: t.Kind, FundsReceived: t.FundsReceived()}
		}
		if isErrorStatus(p.Status) && t.Message == "" {
			return invalid("message is required")
		}
		if !isErrorStatus(p.Status) && isErrorStatus(from) && p.Message == "" {
			t.Message = ""
		}
		t.Status = p.Status
		return nil
	})
}

// Reachable reports whether some method's row in Machine leads from status from (with t's
// kind and received funds, as t has them after the patch's other fields) to status to.
func Reachable(t *Transaction, from, to Status) bool {
	probe := *t
	probe.Status = from
	for name := range Machine {
		targets, err := Allow(name, &probe)
		if err == nil && slices.Contains(targets, to) {
			return true
		}
	}
	return false
}
