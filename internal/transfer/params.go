package transfer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// Decimal is an amount as the business sends it: a JSON string ("10.5") or, as Anchor
// Platform's own fixtures do, a JSON number (10.5). Either way the text is kept as sent.
type Decimal string

// UnmarshalJSON implements json.Unmarshaler.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*d = ""
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = Decimal(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: "non-number " + string(b[:1]), Type: reflect.TypeOf("")}
	}
	*d = Decimal(n.String())
	return nil
}

// AmountParam is an amount parameter: Anchor Platform's AmountAssetRequest, or its
// AmountRequest when Asset is empty (the asset is then the transaction's).
type AmountParam struct {
	Amount Decimal `json:"amount"`
	Asset  string  `json:"asset,omitempty"`
}

// FeeDetailParam is one part of a fee parameter.
type FeeDetailParam struct {
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Amount      Decimal `json:"amount"`
}

// FeeParam is the fee_details parameter.
type FeeParam struct {
	Total   Decimal          `json:"total"`
	Asset   string           `json:"asset,omitempty"`
	Details []FeeDetailParam `json:"details,omitempty"`
}

// RefundParam is the refund parameter of the refund methods.
type RefundParam struct {
	ID        string       `json:"id"`
	Amount    *AmountParam `json:"amount"`
	AmountFee *AmountParam `json:"amount_fee"`
}

// Params are the parameters of every business method that changes a transaction, with
// Anchor Platform's names (api-schema rpc/method/*Request.java). Package rpc decodes them
// from JSON-RPC params, the REST platform API from its body.
type Params struct {
	TransactionID         string                 `json:"transaction_id"`
	Message               string                 `json:"message"`
	AmountIn              *AmountParam           `json:"amount_in"`
	AmountOut             *AmountParam           `json:"amount_out"`
	AmountExpected        *AmountParam           `json:"amount_expected"`
	FeeDetails            *FeeParam              `json:"fee_details"`
	UserActionRequiredBy  *time.Time             `json:"user_action_required_by"`
	Instructions          map[string]Instruction `json:"instructions"`
	FundsReceivedAt       *time.Time             `json:"funds_received_at"`
	FundsSentAt           *time.Time             `json:"funds_sent_at"`
	ExternalTransactionID string                 `json:"external_transaction_id"`
	StellarTransactionID  string                 `json:"stellar_transaction_id"`
	DestinationAccount    string                 `json:"destination_account"`
	Memo                  string                 `json:"memo"`
	MemoType              string                 `json:"memo_type"`
	Success               *bool                  `json:"success"`
	Refund                *RefundParam           `json:"refund"`
	CustomerID            string                 `json:"customer_id"`
	CustomerType          string                 `json:"customer_type"`

	// ledgerTx is the reported Stellar transaction as the ledger has it (Service.Apply
	// reads it before the database transaction).
	ledgerTx *StellarTransaction
}

// InvalidError is a parameter the caller must fix; its message is safe to show.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalid(format string, a ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, a...)}
}

var decimalRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParseDecimal parses a non-negative decimal amount ("10", "0.25"); exponents and signs are
// refused.
func ParseDecimal(s string) (*big.Rat, bool) {
	if !decimalRe.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func ratString(r *big.Rat) string {
	s := r.FloatString(7)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// isStellarAsset reports whether a SEP-38 asset name is on Stellar.
func isStellarAsset(a string) bool { return strings.HasPrefix(a, "stellar:") }

// checkAmount validates an amount parameter's number (positive, or non-negative when zero
// is allowed).
func checkAmount(name string, a *AmountParam, zeroOK bool) error {
	if a == nil {
		return nil
	}
	if a.Amount == "" {
		return invalid("%s.amount cannot be empty", name)
	}
	r, ok := ParseDecimal(string(a.Amount))
	if !ok || r.Sign() < 0 || (!zeroOK && r.Sign() == 0) {
		if zeroOK {
			return invalid("%s.amount should be non-negative", name)
		}
		return invalid("%s.amount should be positive", name)
	}
	return nil
}

func checkFee(f *FeeParam) error {
	if f == nil {
		return nil
	}
	r, ok := ParseDecimal(string(f.Total))
	if !ok || r.Sign() < 0 {
		return invalid("fee_details.total should be non-negative")
	}
	sum := new(big.Rat)
	for i, d := range f.Details {
		if d.Name == "" {
			return invalid("fee_details.details[%d].name cannot be empty", i)
		}
		a, ok := ParseDecimal(string(d.Amount))
		if !ok || a.Sign() < 0 {
			return invalid("fee_details.details[%d].amount should be non-negative", i)
		}
		sum.Add(sum, a)
	}
	if len(f.Details) > 0 && sum.Cmp(r) != 0 {
		return invalid("fee_details.total is not equal to the sum of fee_details.details")
	}
	return nil
}

// amount turns an amount parameter into a stored amount; an empty asset is def (the
// transaction's asset for that amount).
func (a *AmountParam) amount(def string) *Amount {
	asset := a.Asset
	if asset == "" {
		asset = def
	}
	return &Amount{Amount: string(a.Amount), Asset: asset}
}

func (f *FeeParam) fee(def string) *FeeDetails {
	asset := f.Asset
	if asset == "" {
		asset = def
	}
	out := &FeeDetails{Total: string(f.Total), Asset: asset}
	for _, d := range f.Details {
		out.Details = append(out.Details, FeeDetail{Name: d.Name, Description: d.Description, Amount: string(d.Amount)})
	}
	return out
}
