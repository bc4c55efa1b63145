package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// SEP-31 (receive): a sending anchor pays this anchor, which pays the receiver off-chain.
// Its transactions have KindReceive and follow FlowReceive's rows; the rest (Service.Apply,
// Change, the outbox) is shared with SEP-6.

// KindReceive is the kind of a SEP-31 transaction (Anchor Platform's "receive").
const KindReceive Kind = "receive"

// FlowReceive is SEP-31's flow: funds arrive on Stellar from the sending anchor and leave
// off-chain to the receiver.
const FlowReceive Flow = "receive"

// TypeWalletSEP31 is a SEP-31 status callback to the sending anchor.
const TypeWalletSEP31 = "sep31.transaction"

// working is the status in which the anchor works on a transaction: pending_anchor for
// SEP-6, pending_receiver for SEP-31. Methods that hand a transaction back to the anchor
// (funds received, recovery, a partial refund, a customer accepted) lead there.
func (t *Transaction) working() Status {
	if t.Kind == KindReceive {
		return StatusPendingReceiver
	}
	return StatusPendingAnchor
}

// receiveSteps are Anchor Platform 4.3.0's getSupportedStatuses for SEP-31, with vaspgate's
// rule that nothing is completed or moved off-chain unpaid (Anchor Platform lets
// notify_offchain_funds_sent and _pending act on pending_receiver whatever the funds, and
// has no SEP-31 row for notify_refund_pending, notify_amounts_updated or on_hold: neither
// has vaspgate). docs/state_machine.md draws the table.
var receiveSteps = map[string]Step{
	"notify_onchain_funds_received": {From: from(FundsAny, StatusPendingSender), To: to(StatusPendingReceiver)},
	"notify_offchain_funds_pending": {From: from(FundsReceived, StatusPendingReceiver), To: to(StatusPendingExternal)},
	"notify_offchain_funds_sent": {
		From: from(FundsReceived, StatusPendingReceiver, StatusPendingExternal),
		To:   to(StatusCompleted),
	},
	"notify_refund_sent": {
		From: append(from(FundsAny, StatusPendingStellar), from(FundsReceived, StatusPendingReceiver)...),
		To:   to(StatusRefunded, StatusPendingReceiver),
	},
	MethodCustomerInfoUpdated: {
		From: from(FundsAny, StatusPendingReceiver, StatusPendingCustomerInfoUpdate),
		To:   to(StatusPendingReceiver, StatusPendingCustomerInfoUpdate, StatusError),
	},
	"notify_transaction_error":    {From: from(FundsAny, openStatuses()...), To: to(StatusError)},
	"notify_transaction_expired":  {From: from(FundsNotReceived, openStatuses()...), To: to(StatusExpired)},
	"notify_transaction_recovery": {From: from(FundsReceived, StatusError, StatusExpired), To: to(StatusPendingReceiver)},
}

// sep31Refund is one refund payment in SEP-31's shape (amounts as strings in amount_in_asset).
type sep31Refund struct {
	ID     string `json:"id"`
	Amount string `json:"amount"`
	Fee    string `json:"fee"`
}

type sep31Refunds struct {
	AmountRefunded string        `json:"amount_refunded"`
	AmountFee      string        `json:"amount_fee"`
	Payments       []sep31Refund `json:"payments"`
}

// sep31Transaction is the SEP-31 GET /transactions/{id} object.
type sep31Transaction struct {
	ID                    string        `json:"id"`
	Status                Status        `json:"status"`
	StatusMessage         string        `json:"status_message,omitempty"`
	AmountIn              string        `json:"amount_in,omitempty"`
	AmountInAsset         string        `json:"amount_in_asset,omitempty"`
	AmountOut             string        `json:"amount_out,omitempty"`
	AmountOutAsset        string        `json:"amount_out_asset,omitempty"`
	AmountFee             string        `json:"amount_fee,omitempty"`
	AmountFeeAsset        string        `json:"amount_fee_asset,omitempty"`
	FeeDetails            *FeeDetails   `json:"fee_details,omitempty"`
	QuoteID               string        `json:"quote_id,omitempty"`
	StellarAccountID      string        `json:"stellar_account_id,omitempty"`
	StellarMemoType       string        `json:"stellar_memo_type,omitempty"`
	StellarMemo           string        `json:"stellar_memo,omitempty"`
	StartedAt             string        `json:"started_at"`
	UpdatedAt             string        `json:"updated_at"`
	CompletedAt           *string       `json:"completed_at,omitempty"`
	UserActionRequiredBy  *string       `json:"user_action_required_by,omitempty"`
	StellarTransactionID  string        `json:"stellar_transaction_id,omitempty"`
	ExternalTransactionID string        `json:"external_transaction_id,omitempty"`
	Refunded              bool          `json:"refunded"`
	Refunds               *sep31Refunds `json:"refunds,omitempty"`
	RequiredInfoMessage   string        `json:"required_info_message,omitempty"`
	RequiredInfoUpdates   []string      `json:"required_info_updates,omitempty"`
}

// SEP31 returns the sending anchor's view of the transaction (the object inside SEP-31
// GET /transactions/{id}).
func (t *Transaction) SEP31() any {
	o := sep31Transaction{
		ID: t.ID, Status: t.Status, StatusMessage: t.Message, FeeDetails: t.FeeDetails, QuoteID: t.QuoteID,
		StellarAccountID: t.WithdrawAnchorAccount, StellarMemoType: t.WithdrawMemoType, StellarMemo: t.WithdrawMemo,
		StartedAt: isoTime(t.StartedAt), UpdatedAt: isoTime(t.UpdatedAt), CompletedAt: isoPtr(t.CompletedAt),
		UserActionRequiredBy: isoPtr(t.UserActionRequiredBy), StellarTransactionID: t.StellarTransactionID,
		ExternalTransactionID: t.ExternalTransactionID, Refunded: t.Status == StatusRefunded,
		RequiredInfoMessage: t.RequiredInfoMessage, RequiredInfoUpdates: t.RequiredInfoUpdates,
	}
	if t.AmountIn != nil {
		o.AmountIn, o.AmountInAsset = t.AmountIn.Amount, t.AmountIn.Asset
	}
	if t.AmountOut != nil {
		o.AmountOut, o.AmountOutAsset = t.AmountOut.Amount, t.AmountOut.Asset
	}
	if t.FeeDetails != nil {
		o.AmountFee, o.AmountFeeAsset = t.FeeDetails.Total, t.FeeDetails.Asset
	}
	if t.Refunds != nil {
		r := &sep31Refunds{AmountRefunded: t.Refunds.AmountRefunded.Amount, AmountFee: t.Refunds.AmountFee.Amount,
			Payments: []sep31Refund{}}
		for _, p := range t.Refunds.Payments {
			r.Payments = append(r.Payments, sep31Refund{ID: p.ID, Amount: p.Amount.Amount, Fee: p.Fee.Amount})
		}
		o.Refunds = r
	}
	return o
}

// SEP31Body is the GET /transactions/{id} body, {"transaction": {...}}, which is also the
// body of SEP-31 status callbacks.
func (t *Transaction) SEP31Body() []byte {
	b, _ := json.Marshal(struct {
		Transaction any `json:"transaction"`
	}{t.SEP31()})
	return b
}

// walletBody is the status callback a wallet (or sending anchor) gets for t: its body, type
// and the client's static URL for the protocol.
func (t *Transaction) walletBody(c wallet.Client, ok bool) (body []byte, typ, static string) {
	if t.Kind == KindReceive {
		if ok {
			static = c.CallbackURLs.SEP31
		}
		return t.SEP31Body(), TypeWalletSEP31, static
	}
	if ok {
		static = c.CallbackURLs.SEP6
	}
	return t.SEP6Body(), TypeWalletTransaction, static
}

// SetCallbackURL records the sending anchor's SEP-31 callback URL (already checked by
// callback.URLPolicy) on its transaction. It is not a change the business hears of: no
// event, only the version moves on so that no concurrent change is lost. ErrNotFound when
// the transaction is not the owner's SEP-31 transaction.
func (s *Service) SetCallbackURL(ctx context.Context, owner wallet.Identity, id, url string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := scan(tx.QueryRowContext(ctx, "SELECT "+columns+` FROM transfer_transactions
			WHERE id = ? AND owner_account = ? AND owner_memo = ? AND sep = '31'`, id, owner.Account, owner.Memo))
		if err != nil {
			return err
		}
		t.OnChangeCallback = url
		data, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("transfer: set callback: %w", err)
		}
		res, err := tx.ExecContext(ctx, "UPDATE transfer_transactions SET version = ?, data = ? WHERE id = ? AND version = ?",
			t.Version+1, string(data), t.ID, t.Version)
		if err != nil {
			return fmt.Errorf("transfer: set callback: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrConflict
		}
		return nil
	})
}

// FindReceive returns the owner's SEP-31 transaction id, or ErrNotFound (also when another
// owner has it, or it is a SEP-6 transaction).
func (s *Service) FindReceive(ctx context.Context, owner wallet.Identity, id string) (Transaction, error) {
	return scan(s.db.QueryRowContext(ctx, "SELECT "+columns+` FROM transfer_transactions
		WHERE id = ? AND owner_account = ? AND owner_memo = ? AND sep = '31'`, id, owner.Account, owner.Memo))
}

// SameAmount reports whether two decimal amounts are equal as numbers ("100" and "100.00").
func SameAmount(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
