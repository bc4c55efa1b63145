package horizonsim

import "time"

// The resources below are Horizon's JSON as its API reference documents them
// (developers.stellar.org → Horizon API → Resources: Transaction, Operation types).

// Transaction is Horizon's transaction resource.
type Transaction struct {
	ID              string    `json:"id"`
	PT              string    `json:"paging_token"`
	Successful      bool      `json:"successful"`
	Hash            string    `json:"hash"`
	Ledger          int32     `json:"ledger"`
	LedgerCloseTime time.Time `json:"created_at"`
	Account         string    `json:"source_account"`
	AccountSequence int64     `json:"source_account_sequence,string"`
	FeeAccount      string    `json:"fee_account"`
	FeeCharged      int64     `json:"fee_charged,string"`
	MaxFee          int64     `json:"max_fee,string"`
	OperationCount  int32     `json:"operation_count"`
	EnvelopeXdr     string    `json:"envelope_xdr"`
	MemoType        string    `json:"memo_type"`
	Memo            string    `json:"memo,omitempty"`
	Signatures      []string  `json:"signatures"`
}

// Base is what every operation resource has.
type Base struct {
	ID                    string       `json:"id"`
	PT                    string       `json:"paging_token"`
	TransactionSuccessful bool         `json:"transaction_successful"`
	SourceAccount         string       `json:"source_account"`
	Type                  string       `json:"type"`
	TypeI                 int32        `json:"type_i"`
	LedgerCloseTime       time.Time    `json:"created_at"`
	TransactionHash       string       `json:"transaction_hash"`
	Transaction           *Transaction `json:"transaction,omitempty"`
}

// Asset is an asset as operation resources spell it.
type Asset struct {
	AssetType string `json:"asset_type"`
	Code      string `json:"asset_code,omitempty"`
	Issuer    string `json:"asset_issuer,omitempty"`
}

// PaymentOp is the payment operation resource.
type PaymentOp struct {
	Base
	Asset
	From      string `json:"from"`
	To        string `json:"to"`
	ToMuxed   string `json:"to_muxed,omitempty"`
	ToMuxedID uint64 `json:"to_muxed_id,omitempty,string"`
	Amount    string `json:"amount"`
}

// PathPaymentOp is the path_payment_strict_send operation resource.
type PathPaymentOp struct {
	PaymentOp
	Path              []Asset `json:"path"`
	SourceAmount      string  `json:"source_amount"`
	DestinationMin    string  `json:"destination_min"`
	SourceAssetType   string  `json:"source_asset_type"`
	SourceAssetCode   string  `json:"source_asset_code,omitempty"`
	SourceAssetIssuer string  `json:"source_asset_issuer,omitempty"`
}

// Claimant is one claimant of a claimable balance.
type Claimant struct {
	Destination string `json:"destination"`
	Predicate   any    `json:"predicate"`
}

// ClaimableBalanceOp is the create_claimable_balance operation resource.
type ClaimableBalanceOp struct {
	Base
	Asset     string     `json:"asset"`
	Amount    string     `json:"amount"`
	Claimants []Claimant `json:"claimants"`
}
