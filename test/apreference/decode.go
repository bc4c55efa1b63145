package apreference

import (
	"encoding/json"
	"fmt"
	"time"
)

// The two JSON readers of the reference server, as far as a platform's answer can break
// them. kotlinx.serialization (SepHelper's client, ignoreUnknownKeys, otherwise default) is
// strict: a property without a default must be present, a non-null one must not be null,
// and a String must be a JSON string. Gson (PlatformClient and the event route, into Anchor
// Platform's own GetTransactionResponse) is lenient — missing is null, a number reads as a
// string, an unknown enum value is null — but a value of the wrong shape (an object where
// a string is declared, a string where a list is) or a time it cannot parse throws.

// field reads key of m as kotlinx reads a String property: required (no default) or not,
// nullable or not.
func kxString(m map[string]any, path, key string, required, nullable bool) (string, error) {
	v, ok := m[key]
	switch {
	case !ok && required:
		return "", fmt.Errorf("%s%s: field is required but missing", path, key)
	case !ok:
		return "", nil
	case v == nil && !nullable:
		return "", fmt.Errorf("%s%s: null for a non-null String", path, key)
	case v == nil:
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s%s: %T where a JSON string is expected", path, key, v)
	}
	return s, nil
}

// kxObject reads key as an object property (nil when absent or null and allowed).
func kxObject(m map[string]any, path, key string, required, nullable bool) (map[string]any, error) {
	v, ok := m[key]
	switch {
	case !ok && required:
		return nil, fmt.Errorf("%s%s: field is required but missing", path, key)
	case !ok:
		return nil, nil
	case v == nil && !nullable:
		return nil, fmt.Errorf("%s%s: null for a non-null object", path, key)
	case v == nil:
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s%s: %T where an object is expected", path, key, v)
	}
	return o, nil
}

// kxList reads key as a list of objects.
func kxList(m map[string]any, path, key string, required, nullable bool) ([]map[string]any, bool, error) {
	v, ok := m[key]
	switch {
	case !ok && required:
		return nil, false, fmt.Errorf("%s%s: field is required but missing", path, key)
	case !ok:
		return nil, false, nil
	case v == nil && !nullable:
		return nil, false, fmt.Errorf("%s%s: null for a non-null list", path, key)
	case v == nil:
		return nil, false, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, false, fmt.Errorf("%s%s: %T where a list is expected", path, key, v)
	}
	out := make([]map[string]any, len(l))
	for i, e := range l {
		if out[i], ok = e.(map[string]any); !ok {
			return nil, false, fmt.Errorf("%s%s[%d]: %T where an object is expected", path, key, i, e)
		}
	}
	return out, true, nil
}

// kxAmount reads the reference server's Amount (amount and asset, both String? = null).
func kxAmount(m map[string]any, path, key string) (*Amount, error) {
	o, err := kxObject(m, path, key, false, true)
	if err != nil || o == nil {
		return nil, err
	}
	var a Amount
	if a.Amount, err = kxString(o, path+key+".", "amount", false, true); err != nil {
		return nil, err
	}
	if a.Asset, err = kxString(o, path+key+".", "asset", false, true); err != nil {
		return nil, err
	}
	return &a, nil
}

// decodeTransaction reads body as kotlinx reads the reference server's Transaction.
func decodeTransaction(body []byte) (Transaction, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return Transaction{}, err
	}
	var t Transaction
	var err error
	for _, f := range []struct {
		key                string
		dst                *string
		required, nullable bool
	}{
		{"id", &t.ID, true, false}, {"status", &t.Status, true, false}, {"kind", &t.Kind, true, false},
		{"message", &t.Message, false, true}, {"memo", &t.Memo, false, true}, {"memo_type", &t.MemoType, false, true},
		{"source_account", &t.SourceAccount, false, true}, {"destination_account", &t.DestinationAccount, false, true},
	} {
		if *f.dst, err = kxString(m, "", f.key, f.required, f.nullable); err != nil {
			return t, err
		}
	}
	if t.AmountIn, err = kxAmount(m, "", "amount_in"); err != nil {
		return t, err
	}
	if t.AmountOut, err = kxAmount(m, "", "amount_out"); err != nil {
		return t, err
	}
	if t.AmountExpected, err = kxAmount(m, "", "amount_expected"); err != nil {
		return t, err
	}
	fee, err := kxObject(m, "", "fee_details", false, true)
	if err != nil {
		return t, err
	}
	if fee != nil {
		t.FeeDetails = &FeeDetails{}
		if t.FeeDetails.Total, err = kxString(fee, "fee_details.", "total", true, false); err != nil {
			return t, err
		}
		if t.FeeDetails.Asset, err = kxString(fee, "fee_details.", "asset", true, false); err != nil {
			return t, err
		}
		details, _, err := kxList(fee, "fee_details.", "details", false, true)
		if err != nil {
			return t, err
		}
		for i, d := range details {
			p := fmt.Sprintf("fee_details.details[%d].", i)
			if _, err := kxString(d, p, "name", true, false); err != nil {
				return t, err
			}
			if _, err := kxString(d, p, "description", true, false); err != nil {
				return t, err
			}
			if _, err := kxString(d, p, "amount", true, true); err != nil {
				return t, err
			}
		}
	}
	sts, _, err := kxList(m, "", "stellar_transactions", false, true)
	if err != nil {
		return t, err
	}
	for i, st := range sts {
		p := fmt.Sprintf("stellar_transactions[%d].", i)
		var x StellarTransaction
		if x.ID, err = kxString(st, p, "id", true, false); err != nil {
			return t, err
		}
		for _, k := range []string{"memo", "memo_type"} {
			if _, err := kxString(st, p, k, false, true); err != nil {
				return t, err
			}
		}
		pays, _, err := kxList(st, p, "payments", true, false)
		if err != nil {
			return t, err
		}
		for j, pay := range pays {
			pp := fmt.Sprintf("%spayments[%d].", p, j)
			id, err := kxString(pay, pp, "id", true, false)
			if err != nil {
				return t, err
			}
			if _, err := kxObject(pay, pp, "amount", true, false); err != nil {
				return t, err
			}
			if _, err := kxAmount(pay, pp, "amount"); err != nil {
				return t, err
			}
			x.Payments = append(x.Payments, id)
		}
		t.StellarTransactions = append(t.StellarTransactions, x)
	}
	cust, err := kxObject(m, "", "customers", false, true)
	if err != nil {
		return t, err
	}
	if cust != nil {
		for _, side := range []struct {
			key string
			dst **StellarID
		}{{"sender", &t.Customers.Sender}, {"receiver", &t.Customers.Receiver}} {
			o, err := kxObject(cust, "customers.", side.key, true, true)
			if err != nil {
				return t, err
			}
			if o == nil {
				continue
			}
			id := &StellarID{}
			for _, f := range []struct {
				key string
				dst *string
			}{{"id", &id.ID}, {"account", &id.Account}, {"memo", &id.Memo}} {
				if *f.dst, err = kxString(o, "customers."+side.key+".", f.key, false, true); err != nil {
					return t, err
				}
			}
			*side.dst = id
		}
	}
	return t, nil
}

// Anchor Platform's enums as Gson reads them (@SerializedName values); anything else is null.
var (
	gsonKinds    = []string{"deposit", "deposit-exchange", "withdrawal", "withdrawal-exchange", "receive"}
	gsonStatuses = []string{"pending_anchor", "pending_trust", "pending_user", "pending_user_transfer_start",
		"pending_user_transfer_complete", "pending_customer_info_update", "pending_transaction_info_update",
		"pending_sender", "pending_receiver", "pending_external", "pending_stellar", "completed", "refunded",
		"expired", "no_market", "too_small", "too_large", "error", "incomplete", "on_hold"}
)

// gsonTransaction checks a GetTransactionResponse object as Gson reads it: every declared
// field of the wrong shape, or a time Anchor Platform's InstantConverter cannot parse,
// throws.
func gsonTransaction(m map[string]any) error {
	strs := []string{"id", "sep", "kind", "status", "type", "quote_id", "message", "source_account",
		"destination_account", "external_transaction_id", "memo", "memo_type", "refund_memo", "refund_memo_type",
		"client_domain", "client_name", "stellar_transaction_id", "required_info_message"}
	for _, k := range strs {
		switch v := m[k].(type) {
		case nil, string, float64, bool:
		default:
			return fmt.Errorf("%s: %T where Gson reads a string", k, v)
		}
	}
	for _, k := range []string{"started_at", "updated_at", "completed_at", "transfer_received_at", "user_action_required_by"} {
		switch v := m[k].(type) {
		case nil:
		case string:
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return fmt.Errorf("%s: %q is not an ISO-8601 instant", k, v)
			}
		default:
			return fmt.Errorf("%s: %T where an instant is expected", k, v)
		}
	}
	for _, k := range []string{"amount_expected", "amount_in", "amount_out", "amount_fee", "fee_details", "refunds",
		"customers", "creator", "instructions"} {
		switch v := m[k].(type) {
		case nil, map[string]any:
		default:
			return fmt.Errorf("%s: %T where Gson reads an object", k, v)
		}
	}
	for _, k := range []string{"stellar_transactions", "required_info_updates"} {
		switch v := m[k].(type) {
		case nil, []any:
		default:
			return fmt.Errorf("%s: %T where Gson reads a list", k, v)
		}
	}
	if c, ok := m["customers"].(map[string]any); ok {
		for _, side := range []string{"sender", "receiver"} {
			switch v := c[side].(type) {
			case nil, map[string]any:
			default:
				return fmt.Errorf("customers.%s: %T where Gson reads an object", side, v)
			}
		}
	}
	return nil
}

// gsonEnum is the value Gson gives an Anchor Platform enum field: the string when it is one
// of the enum's names, else "" (null).
func gsonEnum(v any, names []string) string {
	s, _ := v.(string)
	if contains(names, s) {
		return s
	}
	return ""
}
