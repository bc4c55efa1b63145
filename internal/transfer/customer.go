package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// MethodCustomerInfoUpdated is the RPC method whose rules govern customer status changes.
const MethodCustomerInfoUpdated = "notify_customer_info_updated"

// CustomerTarget maps a SEP-12 customer status to the next transaction status (Anchor
// Platform's table for SEP-6): NEEDS_INFO -> pending_customer_info_update, PROCESSING and
// ACCEPTED -> pending_anchor (the request-funds RPCs move it on), REJECTED -> error. An
// empty status (no customer known) also means pending_anchor, as in Anchor Platform.
func CustomerTarget(kycStatus string) (Status, error) {
	switch kycStatus {
	case kyc.StatusNeedsInfo:
		return StatusPendingCustomerInfoUpdate, nil
	case kyc.StatusProcessing, kyc.StatusAccepted, "":
		return StatusPendingAnchor, nil
	case kyc.StatusRejected:
		return StatusError, nil
	}
	return "", &InvalidError{Msg: fmt.Sprintf("customer status[%s] is not a SEP-12 status", kycStatus)}
}

// Admission is what SEP-6 makes of a new deposit or withdrawal given its requester's KYC
// (stellar-seps.md 5.2-5.4): create the transaction in Status, or create nothing and answer
// that customer information is needed (NeedsInfo) or was denied (Denied).
type Admission struct {
	Status    Status
	NeedsInfo bool
	Denied    bool
}

// Admit is SEP-6's rule for a new transaction, from the customer's SEP-12 status for the
// transaction's type; known is false when the requester has no customer yet. SEP-6 reserves
// `incomplete` for a user who still has to complete KYC, so:
//   - no customer: nothing is created, the wallet is told which fields to send
//     (non_interactive_customer_info_needed);
//   - NEEDS_INFO: pending_customer_info_update (SEP-12 then names the missing fields);
//   - PROCESSING, ACCEPTED: as notify_customer_info_updated would move it (CustomerTarget:
//     pending_anchor, the business requests the funds);
//   - REJECTED: nothing is created (customer_info_status denied).
//
// Anchor Platform instead creates every transaction `incomplete` and lets the business move
// it; transferhttp keeps that behaviour behind transfer.request_kyc: anchor_platform.
func Admit(kycStatus string, known bool) Admission {
	switch {
	case !known:
		return Admission{NeedsInfo: true}
	case kycStatus == kyc.StatusRejected:
		return Admission{Denied: true}
	}
	target, err := CustomerTarget(kycStatus)
	if err != nil {
		return Admission{Status: StatusIncomplete}
	}
	return Admission{Status: target}
}

// CustomerUpdate is a customer status as it applies to one transaction.
type CustomerUpdate struct {
	// Status is the SEP-12 status; empty when no customer is known.
	Status string
	// Message is the business's message; required when the customer is REJECTED.
	Message string
	// CustomerID is remembered on the transaction when it has none yet.
	CustomerID string
}

// CheckCustomerUpdate validates u against cur without changing anything.
func CheckCustomerUpdate(cur *Transaction, u CustomerUpdate) error {
	if _, err := Allow(MethodCustomerInfoUpdated, cur); err != nil {
		return err
	}
	target, err := CustomerTarget(u.Status)
	if err != nil {
		return err
	}
	if target == StatusError && u.Message == "" {
		return &InvalidError{Msg: "message is required"}
	}
	return nil
}

// ApplyCustomerStatus moves cur as the customer's status says, inside tx, with the
// transaction callback and business event when the status changes. touch: see ChangeTx.
func (s *Service) ApplyCustomerStatus(ctx context.Context, tx *store.Tx, cur Transaction, touch bool, u CustomerUpdate) (Transaction, bool, error) {
	if err := CheckCustomerUpdate(&cur, u); err != nil {
		return cur, false, err
	}
	target, _ := CustomerTarget(u.Status)
	if target == StatusPendingAnchor {
		target = cur.working()
	}
	return s.ChangeTx(ctx, tx, cur, touch, func(t *Transaction) error {
		if t.CustomerID == "" && u.CustomerID != "" {
			t.CustomerID = u.CustomerID
		}
		if t.Kind == KindReceive && u.CustomerID != "" {
			// SEP-31 has two customers: the transaction waits on the one named last, so
			// that its status change (CustomerStatusHook) moves it on.
			t.CustomerID = u.CustomerID
		}
		return move(t, t.Status, target, u.Message, false, nil)
	})
}

// waitingOnKYC are the statuses in which a transaction waits for its customer's KYC.
var waitingOnKYC = []Status{StatusIncomplete, StatusPendingCustomerInfoUpdate}

// CustomerStatusHook moves every transaction of the customer's owner that waits on KYC
// (incomplete or pending_customer_info_update, for this customer or none recorded, of the
// customer's type) as notify_customer_info_updated would. It is registered with
// (*kyc.Service).OnStatusChange so that an operator decision in the builtin back end never
// leaves a transaction stuck. It runs inside kyc's database transaction.
func (s *Service) CustomerStatusHook(ctx context.Context, tx *store.Tx, c kyc.Customer, owner wallet.Identity) error {
	if _, err := CustomerTarget(c.Status); err != nil {
		return nil // not a status transactions react to
	}
	txs, err := s.query(ctx, tx, "SELECT "+columns+` FROM transfer_transactions
		WHERE owner_account = ? AND owner_memo = ? AND status IN (?, ?) AND (customer_id = ? OR customer_id = '')
		ORDER BY id`, owner.Account, owner.Memo, string(waitingOnKYC[0]), string(waitingOnKYC[1]), c.ID)
	if err != nil {
		return err
	}
	for _, t := range txs {
		if c.Type != "" && t.CustomerType != "" && c.Type != t.CustomerType {
			continue
		}
		msg := ""
		if c.Status == kyc.StatusRejected {
			msg = c.Message
			if msg == "" {
				msg = "customer information was rejected"
			}
		}
		if _, _, err := s.ApplyCustomerStatus(ctx, tx, t, false, CustomerUpdate{Status: c.Status, Message: msg, CustomerID: c.ID}); err != nil {
			return fmt.Errorf("transfer: move transaction %s on customer status %s: %w", t.ID, c.Status, err)
		}
	}
	return nil
}

// Owner implements kyc.Transactions: the identity that created the transaction, read
// through q (the caller's *store.Tx when it holds one, else the *store.DB).
func (s *Service) Owner(ctx context.Context, q store.Querier, transactionID string) (wallet.Identity, error) {
	t, err := getQ(ctx, q, transactionID)
	if errors.Is(err, ErrNotFound) {
		return wallet.Identity{}, kyc.ErrNotFound
	}
	if err != nil {
		return wallet.Identity{}, err
	}
	return wallet.Identity{Account: t.Owner.Account, Memo: t.Owner.Memo}, nil
}

var _ kyc.Transactions = (*Service)(nil)
