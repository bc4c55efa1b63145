package transfer

import (
	"encoding/json"
	"time"

	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Amount is an amount of one asset; Asset is in SEP-38 form ("stellar:USDC:G…",
// "iso4217:USD").
type Amount struct {
	Amount string `json:"amount"`
	Asset  string `json:"asset"`
}

// FeeDetail is one named part of a fee.
type FeeDetail struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Amount      string `json:"amount"`
}

// FeeDetails is the total fee and its parts.
type FeeDetails struct {
	Total   string      `json:"total"`
	Asset   string      `json:"asset"`
	Details []FeeDetail `json:"details,omitempty"`
}

// RefundPayment is one refund payment.
type RefundPayment struct {
	ID     string `json:"id"`
	IDType string `json:"id_type"` // "stellar" or "external"
	Amount Amount `json:"amount"`
	Fee    Amount `json:"fee"`
}

// Refunds sums what was refunded.
type Refunds struct {
	AmountRefunded Amount          `json:"amount_refunded"`
	AmountFee      Amount          `json:"amount_fee"`
	Payments       []RefundPayment `json:"payments"`
}

// Instruction is one SEP-9 financial field the user needs to make a deposit.
type Instruction struct {
	Value       string `json:"value"`
	Description string `json:"description"`
}

// Transaction is one SEP-6 transaction. It is stored whole (as JSON) and rendered in two
// shapes: the wallet's GET /transaction object (SEP6JSON) and Anchor Platform's platform
// transaction for the business (PlatformJSON).
type Transaction struct {
	ID            string          `json:"id"`
	Kind          Kind            `json:"kind"`
	Status        Status          `json:"status"`
	Version       int64           `json:"version"`
	Owner         wallet.Identity `json:"owner"`
	AssetCode     string          `json:"asset_code"`
	AssetIssuer   string          `json:"asset_issuer,omitempty"`
	FundingMethod string          `json:"funding_method,omitempty"`
	CustomerID    string          `json:"customer_id,omitempty"`
	CustomerType  string          `json:"customer_type,omitempty"`
	QuoteID       string          `json:"quote_id,omitempty"`
	Lang          string          `json:"lang,omitempty"`
	StartedAt     time.Time       `json:"started_at"`
	UpdatedAt     time.Time       `json:"updated_at"`

	CompletedAt          *time.Time `json:"completed_at,omitempty"`
	TransferReceivedAt   *time.Time `json:"transfer_received_at,omitempty"`
	UserActionRequiredBy *time.Time `json:"user_action_required_by,omitempty"`

	AmountExpected *Amount     `json:"amount_expected,omitempty"`
	AmountIn       *Amount     `json:"amount_in,omitempty"`
	AmountOut      *Amount     `json:"amount_out,omitempty"`
	FeeDetails     *FeeDetails `json:"fee_details,omitempty"`

	Message               string `json:"message,omitempty"`
	StellarTransactionID  string `json:"stellar_transaction_id,omitempty"`
	ExternalTransactionID string `json:"external_transaction_id,omitempty"`
	// StellarTransactions are the Stellar transactions of the transfer, oldest first.
	StellarTransactions []StellarTransaction `json:"stellar_transactions,omitempty"`

	// Account is the user's Stellar account: the deposit destination or the withdrawal source.
	Account  string `json:"account,omitempty"`
	Memo     string `json:"memo,omitempty"`
	MemoType string `json:"memo_type,omitempty"`
	// WithdrawAnchorAccount, WithdrawMemo(Type) are where the user pays a withdrawal.
	WithdrawAnchorAccount string `json:"withdraw_anchor_account,omitempty"`
	WithdrawMemo          string `json:"withdraw_memo,omitempty"`
	WithdrawMemoType      string `json:"withdraw_memo_type,omitempty"`
	RefundMemo            string `json:"refund_memo,omitempty"`
	RefundMemoType        string `json:"refund_memo_type,omitempty"`

	Refunds             *Refunds               `json:"refunds,omitempty"`
	Instructions        map[string]Instruction `json:"instructions,omitempty"`
	RequiredInfoMessage string                 `json:"required_info_message,omitempty"`
	RequiredInfoUpdates []string               `json:"required_info_updates,omitempty"`

	// OnChangeCallback is the wallet's URL for status changes (already policy-checked).
	OnChangeCallback string `json:"on_change_callback,omitempty"`

	// ClientName is the name of the client (clients[].name) the owner belongs to.
	ClientName string `json:"client_name,omitempty"`
	// RequestClientIPAddress is the IP address the creating request came from.
	RequestClientIPAddress string `json:"request_client_ip_address,omitempty"`

	// SenderID and ReceiverID are a SEP-31 transaction's SEP-12 customers.
	SenderID   string `json:"sender_id,omitempty"`
	ReceiverID string `json:"receiver_id,omitempty"`
}

// FundsReceived reports whether the user's funds reached the anchor.
func (t *Transaction) FundsReceived() bool { return t.TransferReceivedAt != nil }

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func isoPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := isoTime(*t)
	return &s
}

// sep6Transaction is the SEP-6 GET /transaction object (stellar-seps.md 5.5).
type sep6Transaction struct {
	ID                    string                 `json:"id"`
	Kind                  Kind                   `json:"kind"`
	Status                Status                 `json:"status"`
	Message               string                 `json:"message,omitempty"`
	AmountIn              string                 `json:"amount_in,omitempty"`
	AmountInAsset         string                 `json:"amount_in_asset,omitempty"`
	AmountOut             string                 `json:"amount_out,omitempty"`
	AmountOutAsset        string                 `json:"amount_out_asset,omitempty"`
	AmountFee             string                 `json:"amount_fee,omitempty"`
	AmountFeeAsset        string                 `json:"amount_fee_asset,omitempty"`
	FeeDetails            *FeeDetails            `json:"fee_details,omitempty"`
	QuoteID               string                 `json:"quote_id,omitempty"`
	From                  string                 `json:"from,omitempty"`
	To                    string                 `json:"to,omitempty"`
	DepositMemo           string                 `json:"deposit_memo,omitempty"`
	DepositMemoType       string                 `json:"deposit_memo_type,omitempty"`
	WithdrawAnchorAccount string                 `json:"withdraw_anchor_account,omitempty"`
	WithdrawMemo          string                 `json:"withdraw_memo,omitempty"`
	WithdrawMemoType      string                 `json:"withdraw_memo_type,omitempty"`
	StartedAt             string                 `json:"started_at"`
	UpdatedAt             string                 `json:"updated_at"`
	CompletedAt           *string                `json:"completed_at,omitempty"`
	UserActionRequiredBy  *string                `json:"user_action_required_by,omitempty"`
	StellarTransactionID  string                 `json:"stellar_transaction_id,omitempty"`
	ExternalTransactionID string                 `json:"external_transaction_id,omitempty"`
	Refunds               *Refunds               `json:"refunds,omitempty"`
	RequiredInfoMessage   string                 `json:"required_info_message,omitempty"`
	RequiredInfoUpdates   []string               `json:"required_info_updates,omitempty"`
	Instructions          map[string]Instruction `json:"instructions,omitempty"`
}

// SEP6 returns the wallet's view of the transaction (the object inside GET /transaction).
func (t *Transaction) SEP6() any {
	o := sep6Transaction{
		ID: t.ID, Kind: t.Kind, Status: t.Status, Message: t.Message, FeeDetails: t.FeeDetails,
		QuoteID: t.QuoteID, StartedAt: isoTime(t.StartedAt), UpdatedAt: isoTime(t.UpdatedAt),
		CompletedAt: isoPtr(t.CompletedAt), UserActionRequiredBy: isoPtr(t.UserActionRequiredBy),
		StellarTransactionID: t.StellarTransactionID, ExternalTransactionID: t.ExternalTransactionID,
		Refunds: t.Refunds, RequiredInfoMessage: t.RequiredInfoMessage,
		RequiredInfoUpdates: t.RequiredInfoUpdates,
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
	if t.Kind.Deposit() {
		o.To, o.DepositMemo, o.DepositMemoType = t.Account, t.Memo, t.MemoType
	} else {
		o.From = t.Account
		o.WithdrawAnchorAccount, o.WithdrawMemo, o.WithdrawMemoType = t.WithdrawAnchorAccount, t.WithdrawMemo, t.WithdrawMemoType
	}
	// Instructions are only meaningful once the user is asked to transfer (SEP-6 5.5).
	switch t.Status {
	case StatusIncomplete, StatusPendingCustomerInfoUpdate, StatusPendingTransactionInfoUpdate:
	default:
		o.Instructions = t.Instructions
	}
	return o
}

// SEP6Body returns the GET /transaction response body, {"transaction": {...}}, which is also
// the body of SEP-6 status callbacks.
func (t *Transaction) SEP6Body() []byte {
	b, _ := json.Marshal(struct {
		Transaction any `json:"transaction"`
	}{t.SEP6()})
	return b
}

// StellarID is Anchor Platform's StellarId: a customer or creator by id and/or account and
// memo.
type StellarID struct {
	ID      string `json:"id,omitempty"`
	Account string `json:"account,omitempty"`
	Memo    string `json:"memo,omitempty"`
}

// Customers are Anchor Platform's transaction customers.
type Customers struct {
	Sender   StellarID `json:"sender"`
	Receiver StellarID `json:"receiver"`
}

// PlatformTransaction is Anchor Platform's GetTransactionResponse for a SEP-6 transaction
// (api-schema .../platform/GetTransactionResponse.java, filled as TransactionMapper does): the
// RPC result, the REST platform API's body and the payload of transaction_* events. Fields
// after Sequence are vaspgate's, additive.
type PlatformTransaction struct {
	ID                     string                 `json:"id"`
	SEP                    string                 `json:"sep"`
	Kind                   Kind                   `json:"kind"`
	Status                 Status                 `json:"status"`
	Type                   string                 `json:"type,omitempty"`
	FundingMethod          string                 `json:"funding_method,omitempty"`
	AmountExpected         *Amount                `json:"amount_expected,omitempty"`
	AmountIn               *Amount                `json:"amount_in,omitempty"`
	AmountOut              *Amount                `json:"amount_out,omitempty"`
	FeeDetails             *FeeDetails            `json:"fee_details,omitempty"`
	QuoteID                string                 `json:"quote_id,omitempty"`
	StartedAt              string                 `json:"started_at"`
	UpdatedAt              string                 `json:"updated_at,omitempty"`
	CompletedAt            *string                `json:"completed_at,omitempty"`
	UserActionRequiredBy   *string                `json:"user_action_required_by,omitempty"`
	TransferReceivedAt     *string                `json:"transfer_received_at,omitempty"`
	Message                string                 `json:"message,omitempty"`
	Refunds                *Refunds               `json:"refunds,omitempty"`
	StellarTransactions    []StellarTransaction   `json:"stellar_transactions,omitempty"`
	SourceAccount          string                 `json:"source_account,omitempty"`
	DestinationAccount     string                 `json:"destination_account,omitempty"`
	ExternalTransactionID  string                 `json:"external_transaction_id,omitempty"`
	Memo                   string                 `json:"memo,omitempty"`
	MemoType               string                 `json:"memo_type,omitempty"`
	RefundMemo             string                 `json:"refund_memo,omitempty"`
	RefundMemoType         string                 `json:"refund_memo_type,omitempty"`
	ClientDomain           string                 `json:"client_domain,omitempty"`
	ClientName             string                 `json:"client_name,omitempty"`
	RequestClientIPAddress string                 `json:"request_client_ip_address,omitempty"`
	Customers              Customers              `json:"customers"`
	Creator                StellarID              `json:"creator"`
	RequiredInfoMessage    string                 `json:"required_info_message,omitempty"`
	RequiredInfoUpdates    []string               `json:"required_info_updates,omitempty"`
	Instructions           map[string]Instruction `json:"instructions,omitempty"`
	// Sequence is vaspgate's per-transaction counter (additive to Anchor Platform's shape):
	// a receiver can order and de-duplicate events with it.
	Sequence int64 `json:"sequence"`
	// StellarTransactionID is the last Stellar transaction (vaspgate, additive).
	StellarTransactionID string `json:"stellar_transaction_id,omitempty"`
	// WithdrawAnchorAccount is where the user pays a withdrawal (vaspgate, additive).
	WithdrawAnchorAccount string `json:"withdraw_anchor_account,omitempty"`
	// TravelRule lists the Travel Rule verifications linked to the transaction (vaspgate,
	// additive): set by the business reads, absent from events (see TravelRuleVerification).
	TravelRule []TravelRuleVerification `json:"travel_rule,omitempty"`
}

// Platform returns the business view of the transaction (Anchor Platform's
// GetTransactionResponse: the RPC result, the REST platform API's body and the event
// payload's "transaction").
func (t *Transaction) Platform() PlatformTransaction {
	p := PlatformTransaction{
		ID: t.ID, SEP: t.Kind.SEP(), Kind: t.Kind, Status: t.Status, Type: t.FundingMethod, FundingMethod: t.FundingMethod,
		AmountIn: t.AmountIn, AmountOut: t.AmountOut, FeeDetails: t.FeeDetails, QuoteID: t.QuoteID,
		StartedAt: isoTime(t.StartedAt), UpdatedAt: isoTime(t.UpdatedAt),
		CompletedAt: isoPtr(t.CompletedAt), UserActionRequiredBy: isoPtr(t.UserActionRequiredBy),
		TransferReceivedAt: isoPtr(t.TransferReceivedAt), Message: t.Message, Refunds: t.Refunds,
		StellarTransactions: t.StellarTransactions, StellarTransactionID: t.StellarTransactionID,
		ExternalTransactionID: t.ExternalTransactionID, RefundMemo: t.RefundMemo, RefundMemoType: t.RefundMemoType,
		ClientDomain: t.Owner.ClientDomain, ClientName: t.ClientName, RequestClientIPAddress: t.RequestClientIPAddress,
		RequiredInfoMessage: t.RequiredInfoMessage, RequiredInfoUpdates: t.RequiredInfoUpdates,
		Instructions: t.Instructions, Sequence: t.Version,
	}
	// Anchor Platform's amount_expected is in the transaction's Stellar asset, whatever the
	// kind (TransactionMapper.makeAsset(null, …)).
	if asset := t.StellarAsset(); asset != "" {
		p.AmountExpected = &Amount{Asset: asset}
		if t.AmountExpected != nil {
			p.AmountExpected.Amount = t.AmountExpected.Amount
		}
	} else {
		p.AmountExpected = t.AmountExpected
	}
	if t.Kind.Deposit() {
		p.DestinationAccount, p.Memo, p.MemoType = t.Account, t.Memo, t.MemoType
	} else {
		// A withdrawal's memo is the one the user pays the anchor with, as Anchor Platform's.
		p.SourceAccount = t.Account
		p.WithdrawAnchorAccount, p.Memo, p.MemoType = t.WithdrawAnchorAccount, t.WithdrawMemo, t.WithdrawMemoType
	}
	account := t.Owner.Account
	if t.Owner.Muxed != "" {
		account = t.Owner.Muxed
	}
	me := StellarID{Account: account, Memo: t.Owner.Memo}
	p.Creator = me
	p.Customers = Customers{Sender: me, Receiver: me}
	if t.CustomerID != "" {
		p.Customers.Sender.ID, p.Customers.Receiver.ID = t.CustomerID, t.CustomerID
	}
	if t.Kind == KindReceive {
		// SEP-31: two customers, both registered by the sending anchor.
		p.Customers.Sender.ID, p.Customers.Receiver.ID = t.SenderID, t.ReceiverID
	}
	return p
}

// clone returns a deep enough copy for Change: pointers to values that a change replaces
// wholesale are shared, slices and maps that a change may edit in place are copied.
func (t *Transaction) clone() Transaction {
	// Decode into a zero value: json.Unmarshal reuses a non-nil pointer's target and a
	// slice's backing array, so decoding over a copy of *t would leave the copy sharing
	// amounts, refunds and stellar_transactions with t, and an edit made in place to the
	// copy would change the original too (and compare equal to it, so nothing is written).
	var c Transaction
	b, _ := json.Marshal(t)
	_ = json.Unmarshal(b, &c)
	c.Owner.Sub = t.Owner.Sub // not part of the JSON form
	return c
}

// StellarTransaction is one Stellar transaction of a transfer (Anchor Platform's
// StellarTransaction; payments are filled in when the ledger is read).
type StellarTransaction struct {
	ID        string           `json:"id"`
	CreatedAt time.Time        `json:"created_at"`
	Memo      string           `json:"memo,omitempty"`
	MemoType  string           `json:"memo_type,omitempty"`
	Envelope  string           `json:"envelope,omitempty"`
	Payments  []StellarPayment `json:"payments"`
}

// StellarPayment is one payment operation of a StellarTransaction.
type StellarPayment struct {
	ID                 string `json:"id"`
	Amount             Amount `json:"amount"`
	PaymentType        string `json:"payment_type"`
	SourceAccount      string `json:"source_account"`
	DestinationAccount string `json:"destination_account"`
}

// StellarAsset is the transaction's Stellar asset in SEP-38 form ("stellar:USDC:G…",
// "stellar:native").
func (t *Transaction) StellarAsset() string {
	if t.AssetCode == "" {
		return ""
	}
	if t.AssetIssuer == "" {
		if t.AssetCode == "XLM" || t.AssetCode == "native" {
			return "stellar:native"
		}
		return "stellar:" + t.AssetCode
	}
	return "stellar:" + t.AssetCode + ":" + t.AssetIssuer
}

// assetIn is the asset an amount_in given without one is in: the stored amount_in's, else
// for a deposit the asset the user said they would send, else the Stellar asset (Anchor
// Platform's fallback).
func (t *Transaction) assetIn() string {
	switch {
	case t.AmountIn != nil && t.AmountIn.Asset != "":
		return t.AmountIn.Asset
	case t.Kind.Deposit() && t.AmountExpected != nil && t.AmountExpected.Asset != "":
		return t.AmountExpected.Asset
	}
	return t.StellarAsset()
}

// assetOut is the asset of an amount_out given without one.
func (t *Transaction) assetOut() string {
	if t.AmountOut != nil && t.AmountOut.Asset != "" {
		return t.AmountOut.Asset
	}
	return t.StellarAsset()
}

// feeAsset is the asset of a fee given without one.
func (t *Transaction) feeAsset() string {
	if t.FeeDetails != nil && t.FeeDetails.Asset != "" {
		return t.FeeDetails.Asset
	}
	return t.assetIn()
}

func (t *Transaction) amountIn() string {
	if t.AmountIn == nil {
		return ""
	}
	return t.AmountIn.Amount
}

// addStellarTransaction records the Stellar transaction a method reports (as the ledger has
// it when one is configured; once per id) and makes it the transfer's stellar_transaction_id.
func (t *Transaction) addStellarTransaction(p *Params, at time.Time) {
	id := p.StellarTransactionID
	t.StellarTransactionID = id
	memo, typ := t.Memo, t.MemoType
	if t.Kind.Withdrawal() {
		memo, typ = t.WithdrawMemo, t.WithdrawMemoType
	}
	st := StellarTransaction{ID: id, CreatedAt: at, Memo: memo, MemoType: typ, Payments: []StellarPayment{}}
	if p.ledgerTx != nil {
		st = *p.ledgerTx
		st.ID = id
		if st.CreatedAt.IsZero() {
			st.CreatedAt = at
		}
		st.CreatedAt = st.CreatedAt.UTC().Truncate(time.Microsecond)
	}
	for i := range t.StellarTransactions {
		if t.StellarTransactions[i].ID == id {
			t.StellarTransactions[i] = st
			return
		}
	}
	t.StellarTransactions = append(t.StellarTransactions, st)
}
