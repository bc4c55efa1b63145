package conformance

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
)

// serverURL is the suite's check of a server named in stellar.toml: present, https (http only
// for a localhost home domain), no trailing slash.
func serverURL(t *testing.T, a *anchor, key string) string {
	t.Helper()
	v := a.str(key)
	if v == "" || (!strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://localhost")) || strings.HasSuffix(v, "/") {
		t.Fatalf("has %s attribute: %q", key, v)
	}
	return v
}

// isType reports whether v has one of JSON Schema's types (null included).
func isType(v any, types ...string) bool {
	for _, ty := range types {
		switch ty {
		case "null":
			if v == nil {
				return true
			}
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "number":
			if _, ok := v.(float64); ok {
				return true
			}
		case "integer":
			if f, ok := v.(float64); ok && f == math.Trunc(f) {
				return true
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return true
			}
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := v.([]any); ok {
				return true
			}
		}
	}
	return false
}

// onlyKeys reports the keys of m outside allowed (the schemas' additionalProperties: false).
func onlyKeys(m map[string]any, allowed ...string) []string {
	var extra []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	return extra
}

// validMemo is the suite's check that stellar_memo is a memo of stellar_memo_type (the SDK's
// Memo constructor): an unsigned 64-bit id, text of at most 28 bytes, a 32-byte hash in
// base64.
func validMemo(typ, memo string) bool {
	switch typ {
	case "id":
		_, err := strconv.ParseUint(memo, 10, 64)
		return err == nil
	case "text":
		return len(memo) <= 28
	case "hash":
		b, err := base64.StdEncoding.DecodeString(memo)
		return err == nil && len(b) == 32
	}
	return false
}

// sep12TypesValid checks the suite's schema of /info's sep12.sender or sep12.receiver:
// an object whose optional "types" maps names to objects with a string description.
func sep12TypesValid(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	types, ok := m["types"]
	if !ok {
		return true
	}
	tm, ok := types.(map[string]any)
	if !ok {
		return false
	}
	for _, ty := range tm {
		o, ok := ty.(map[string]any)
		if !ok || !isType(o["description"], "string") {
			return false
		}
	}
	return true
}

// sep31 is the suite's SEP-31 group (sep31/toml.ts, info.ts, transactions.ts): the suite's
// sending anchor registers its sender and receiver through SEP-12 and waits until the
// receiving anchor accepts them (here an operator accepts them through the admin API), then
// creates and fetches a transaction.
func sep31(t *testing.T, a *anchor) {
	dps := serverURL(t, a, "DIRECT_PAYMENT_SERVER")
	kycServer := serverURL(t, a, "KYC_SERVER")

	// GET /info: matches the expected schema.
	status, hdr, b := a.do(t, "GET", dps+"/info", "", "", nil)
	info := jsonBody(t, hdr, b)
	receive, ok := info["receive"].(map[string]any)
	if status != 200 || !ok {
		t.Fatalf("GET /info matches the expected schema: %d %s", status, b)
	}
	for code, v := range receive {
		asset, ok := v.(map[string]any)
		if !ok {
			t.Errorf("GET /info matches the expected schema: %s is not an object", code)
			continue
		}
		for k, ty := range map[string]string{"enabled": "boolean", "fee_fixed": "number", "fee_percent": "number",
			"min_amount": "number", "max_amount": "number", "funding_methods": "array", "sep12": "object", "fields": "object"} {
			if x, present := asset[k]; present && !isType(x, ty) {
				t.Errorf("GET /info matches the expected schema: %s.%s = %v is not a %s", code, k, x, ty)
			}
		}
		if s12, ok := asset["sep12"].(map[string]any); ok {
			if extra := onlyKeys(s12, "sender", "receiver"); len(extra) > 0 || !sep12TypesValid(s12["sender"]) || !sep12TypesValid(s12["receiver"]) {
				t.Errorf("GET /info matches the expected schema: %s.sep12 = %v", code, s12)
			}
		}
		// check optional transaction 'fields': the suite is configured with no transaction
		// fields, so none may be required.
		if f, ok := asset["fields"].(map[string]any); ok {
			tf, _ := f["transaction"].(map[string]any)
			for name, field := range tf {
				if o, _ := field.(map[string]any); o["optional"] != true {
					t.Errorf("check optional transaction 'fields': %s.%s is required", code, name)
				}
			}
		}
	}
	// has expected asset enabled: the first enabled asset, as the suite picks it.
	var code string
	for c, v := range receive {
		if v.(map[string]any)["enabled"] == true && (code == "" || c < code) {
			code = c
		}
	}
	if code == "" {
		t.Fatalf("has expected asset enabled: none in %s", b)
	}
	quotesRequired := receive[code].(map[string]any)["quotes_required"] == true

	// POST /transactions requires a SEP-10 JWT.
	if status, _, b := a.do(t, "POST", dps+"/transactions", "", "", strings.NewReader(`{}`)); status != 403 {
		t.Errorf("POST /transactions requires a SEP-10 JWT: %d %s", status, b)
	}

	// The suite's sending anchor: one account, its customers told apart by memo
	// (differentMemosSameAccount), each registered with the SEP-12 type /info asks for.
	sender := keypair.MustRandom()
	tok := a.token(t, sender, "", false)
	s12 := receive[code].(map[string]any)["sep12"].(map[string]any)
	customer := func(role string, fields map[string]string) string {
		t.Helper()
		for ty := range s12[role].(map[string]any)["types"].(map[string]any) {
			fields["type"] = ty
		}
		// Each of the sending anchor's customers under its own hash memo, the token's
		// account without one (as the suite registers them).
		memo := make([]byte, 32)
		_, _ = rand.Read(memo)
		fields["memo"], fields["memo_type"] = base64.StdEncoding.EncodeToString(memo), "hash"
		body, _ := json.Marshal(fields)
		status, hdr, b := a.do(t, "PUT", kycServer+"/customer", tok, "application/json", strings.NewReader(string(body)))
		id, _ := jsonBody(t, hdr, b)["id"].(string)
		if status != 202 || id == "" {
			t.Fatalf("PUT %s customer: %d %s", role, status, b)
		}
		a.accept(t, id, fields["type"])
		// The suite polls GET /customer until ACCEPTED.
		q := url.Values{"id": {id}, "type": {fields["type"]}}
		status, hdr, b = a.do(t, "GET", kycServer+"/customer?"+q.Encode(), tok, "", nil)
		if m := jsonBody(t, hdr, b); status != 200 || m["status"] != "ACCEPTED" {
			t.Fatalf("%s customer is not ACCEPTED: %d %s", role, status, b)
		}
		return id
	}
	senderID := customer("sender", map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email_address": "ada@example.com"})
	receiverID := customer("receiver", map[string]string{"first_name": "Grace", "last_name": "Hopper", "bank_account_number": "DE89370400440532013000"})

	post := func(body map[string]any) (int, map[string]any, []byte) {
		t.Helper()
		raw, _ := json.Marshal(body)
		status, hdr, b := a.do(t, "POST", dps+"/transactions", tok, "application/json", strings.NewReader(string(raw)))
		return status, jsonBody(t, hdr, b), b
	}
	// can create a transaction: amount as a JSON number, the deprecated fields object
	// empty, no funding method.
	status, created, b := post(map[string]any{"sender_id": senderID, "receiver_id": receiverID, "amount": 100, "asset_code": code,
		"fields": map[string]any{"transaction": map[string]any{}}})
	if quotesRequired {
		if status != 400 {
			t.Errorf("can create a transaction (quotes required): %d %s, want 400", status, b)
		}
		return
	}
	if status != 201 {
		t.Fatalf("can create a transaction: %d %s", status, b)
	}
	id, _ := created["id"].(string)
	memoType, _ := created["stellar_memo_type"].(string)
	memo, _ := created["stellar_memo"].(string)
	if extra := onlyKeys(created, "id", "stellar_account_id", "stellar_memo_type", "stellar_memo"); id == "" || len(extra) > 0 {
		t.Errorf("can create a transaction: schema (id %q, extra keys %v)", id, extra)
	}
	if acct, _ := created["stellar_account_id"].(string); !strings.HasPrefix(acct, "G") {
		t.Errorf("can create a transaction: stellar_account_id %q", acct)
	} else if _, err := keypair.ParseAddress(acct); err != nil {
		t.Errorf("can create a transaction: stellar_account_id %q: %v", acct, err)
	}
	if !validMemo(memoType, memo) {
		t.Errorf("can create a transaction: invalid 'stellar_memo' %q for 'stellar_memo_type' %q", memo, memoType)
	}

	// returns 400 when no amount / no asset_code is given.
	for name, body := range map[string]map[string]any{
		"returns 400 when no amount is given":     {"sender_id": senderID, "receiver_id": receiverID, "asset_code": code},
		"returns 400 when no asset_code is given": {"sender_id": senderID, "receiver_id": receiverID, "amount": 100},
	} {
		body["fields"] = map[string]any{"transaction": map[string]any{}}
		if status, _, b := post(body); status != 400 {
			t.Errorf("%s: %d %s", name, status, b)
		}
	}

	// can fetch a created transaction; the body complies with the protocol's schema.
	status, hdr, b = a.do(t, "GET", dps+"/transactions/"+id, tok, "", nil)
	got := jsonBody(t, hdr, b)
	if status != 200 {
		t.Fatalf("can fetch a created transaction: %d %s", status, b)
	}
	txn, _ := got["transaction"].(map[string]any)
	if extra := onlyKeys(got, "transaction"); txn == nil || len(extra) > 0 {
		t.Fatalf("response body complies with protocol schema: %s", b)
	}
	statuses := []string{"pending_sender", "pending_stellar", "pending_customer_info_update", "pending_transaction_info_update",
		"pending_receiver", "pending_external", "completed", "error"}
	if s, _ := txn["status"].(string); txn["id"] != id || !slices.Contains(statuses, s) {
		t.Errorf("response body complies with protocol schema: id %v (want %s), status %v", txn["id"], id, txn["status"])
	}
	for k, types := range map[string][]string{"status_eta": {"number", "null"}, "amount_in": {"string", "null"}, "amount_out": {"string", "null"},
		"amount_fee": {"string", "null"}, "started_at": {"string"}, "completed_at": {"string", "null"}, "stellar_account_id": {"string", "null"},
		"stellar_memo_type": {"string", "null"}, "stellar_memo": {"string", "null"}, "stellar_transaction_id": {"string", "null"},
		"external_transaction_id": {"string", "null"}, "required_info_message": {"string", "null"},
		"required_info_updates": {"object", "null"}, "refunded": {"boolean"}} {
		if v, present := txn[k]; present && !isType(v, types...) {
			t.Errorf("response body complies with protocol schema: %s = %v is not %v", k, v, types)
		}
	}
	for _, k := range []string{"started_at", "completed_at"} {
		if s, ok := txn[k].(string); ok {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				t.Errorf("response body complies with protocol schema: %s %q is not a date-time", k, s)
			}
		}
	}
	if mt, ok := txn["stellar_memo_type"].(string); ok && !slices.Contains([]string{"text", "id", "hash"}, mt) {
		t.Errorf("response body complies with protocol schema: stellar_memo_type %q", mt)
	}

	// returns 404 for a non-existent transaction.
	if status, _, b := a.do(t, "GET", dps+"/transactions/not-an-id", tok, "", nil); status != 404 {
		t.Errorf("returns 404 for a non-existent transaction: %d %s", status, b)
	}

	if receive[code].(map[string]any)["quotes_supported"] == true {
		sep31WithQuote(t, a, tok, code, senderID, receiverID)
	}
}

// sep31WithQuote is the suite's "[with SEP-38]" SEP-31 group (sep31and38/transactions.ts):
// a transaction on a firm quote, then fetched. The suite asks the quote with another
// account's token than the sending anchor's; here the sending anchor asks for its own, as
// vaspgate lets only the quote's owner use it.
func sep31WithQuote(t *testing.T, a *anchor, tok, code, senderID, receiverID string) {
	qs, dps := serverURL(t, a, "ANCHOR_QUOTE_SERVER"), a.str("DIRECT_PAYMENT_SERVER")
	_, hdr, b := a.do(t, "GET", qs+"/info", "", "", nil)
	var sell, buy, method string
	for _, x := range jsonBody(t, hdr, b)["assets"].([]any) {
		asset := x.(map[string]any)
		id, _ := asset["asset"].(string)
		switch {
		case strings.HasPrefix(id, "stellar:"+code+":"):
			sell = id
		case strings.HasPrefix(id, "iso4217:") && buy == "":
			buy = id
			if m, _ := asset["buy_delivery_methods"].([]any); len(m) > 0 {
				method, _ = m[0].(map[string]any)["name"].(string)
			}
		}
	}
	if sell == "" || buy == "" {
		t.Fatalf("[with SEP-38] no quote pair for %s in %s", code, b)
	}
	body, _ := json.Marshal(map[string]any{"sell_asset": sell, "buy_asset": buy, "sell_amount": "100", "context": "sep31", "buy_delivery_method": method})
	status, hdr, b := a.do(t, "POST", qs+"/quote", tok, "application/json", strings.NewReader(string(body)))
	q := jsonBody(t, hdr, b)
	if status != 201 {
		t.Fatalf("[with SEP-38] POST /quote: %d %s", status, b)
	}
	body, _ = json.Marshal(map[string]any{"sender_id": senderID, "receiver_id": receiverID, "amount": 100, "asset_code": code,
		"quote_id": q["id"], "funding_method": "SEPA", "fields": map[string]any{"transaction": map[string]any{}}})
	status, hdr, b = a.do(t, "POST", dps+"/transactions", tok, "application/json", strings.NewReader(string(body)))
	created := jsonBody(t, hdr, b)
	id, _ := created["id"].(string)
	if extra := onlyKeys(created, "id", "stellar_account_id", "stellar_memo_type", "stellar_memo"); status != 201 || id == "" || len(extra) > 0 {
		t.Fatalf("[with SEP-38, quotes_required] can create a transaction: %d %s", status, b)
	}
	if mt, _ := created["stellar_memo_type"].(string); !validMemo(mt, fmt.Sprint(created["stellar_memo"])) {
		t.Errorf("[with SEP-38] invalid 'stellar_memo' for 'stellar_memo_type': %s", b)
	}
	status, hdr, b = a.do(t, "GET", dps+"/transactions/"+id, tok, "", nil)
	txn, _ := jsonBody(t, hdr, b)["transaction"].(map[string]any)
	if status != 200 || txn["id"] != id {
		t.Fatalf("[with SEP-38, quotes_required] can fetch a created transaction: %d %s", status, b)
	}
	// The transaction carries the quote's terms (vaspgate's own check, beyond the suite's).
	if txn["quote_id"] != q["id"] || txn["amount_out"] != q["buy_amount"] || txn["amount_out_asset"] != buy {
		t.Errorf("[with SEP-38] the transaction does not carry the quote's terms: %s (quote %v)", b, q)
	}
}

// feeValid is the suite's schema of a SEP-38 fee: total and asset strings, details with
// name and amount.
func feeValid(v any) bool {
	fee, ok := v.(map[string]any)
	if !ok || !isType(fee["total"], "string") || !isType(fee["asset"], "string") {
		return false
	}
	if d, present := fee["details"]; present {
		list, ok := d.([]any)
		if !ok {
			return false
		}
		for _, x := range list {
			o, ok := x.(map[string]any)
			if !ok || !isType(o["name"], "string") || !isType(o["amount"], "string") {
				return false
			}
		}
	}
	return true
}

// num parses a decimal string as the suite does (Number(...)); 0 when it is not one.
func num(v any) float64 {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return f
}

// roundTo rounds x to the given decimals, as the suite's roundingMultiplier does.
func roundTo(x float64, decimals int) float64 {
	m := math.Pow(10, float64(decimals))
	return math.Round(x*m) / m
}

// amountsAdd checks SEP-38's price formulas for a price or quote body: sell_amount =
// total_price × buy_amount, and sell_amount − fee = price × buy_amount (fee in the asset
// sold) or sell_amount ÷ price = buy_amount + fee (fee in the asset bought), to decimals.
func amountsAdd(m map[string]any, sellAsset, buyAsset string, decimals int) string {
	sell, buy, total, price := num(m["sell_amount"]), num(m["buy_amount"]), num(m["total_price"]), num(m["price"])
	if roundTo(sell/total, decimals) != roundTo(buy, decimals) {
		return "sell_amount = buy_amount * total_price does not hold"
	}
	fee, _ := m["fee"].(map[string]any)
	feeTotal := num(fee["total"])
	switch fee["asset"] {
	case sellAsset:
		if roundTo(sell-feeTotal, decimals) != roundTo(price*buy, decimals) {
			return "sell_amount - fee = price * buy_amount does not hold"
		}
	case buyAsset:
		if roundTo(sell/price, decimals) != roundTo(buy+feeTotal, decimals) {
			return "sell_amount / price = buy_amount + fee does not hold"
		}
	}
	return ""
}

// sep38 is the suite's SEP-38 group (sep38/toml.ts, info.ts, prices.ts, price.ts,
// postQuote.ts, getQuote.ts) with the contexts a SEP-31 receiving anchor quotes for.
func sep38(t *testing.T, a *anchor) {
	qs := serverURL(t, a, "ANCHOR_QUOTE_SERVER")
	tok := a.token(t, keypair.MustRandom(), "", false)

	// GET /info: matches the expected schema; Stellar assets carry the asset alone.
	status, hdr, b := a.do(t, "GET", qs+"/info", "", "", nil)
	info := jsonBody(t, hdr, b)
	assets, _ := info["assets"].([]any)
	if status != 200 || len(assets) == 0 {
		t.Fatalf("GET /info matches the expected schema: %d %s", status, b)
	}
	var stellarAsset string
	buyMethods := map[string]string{}
	offChain := false
	for _, x := range assets {
		asset, _ := x.(map[string]any)
		id, _ := asset["asset"].(string)
		parts := strings.Split(id, ":")
		switch {
		case strings.HasPrefix(id, "stellar"):
			if len(parts) != 3 {
				t.Errorf("GET /info: invalid 'asset' value %q", id)
				continue
			}
			if _, err := keypair.ParseAddress(parts[2]); err != nil {
				t.Errorf("GET /info: invalid 'asset' value %q: %v", id, err)
			}
			if extra := onlyKeys(asset, "asset"); len(extra) > 0 {
				t.Errorf("GET /info: the Stellar asset %s has %v besides 'asset'", id, extra)
			}
			if stellarAsset == "" {
				stellarAsset = id
			}
		case strings.HasPrefix(id, "iso4217"):
			offChain = true
			if len(parts) != 2 {
				t.Errorf("GET /info: invalid 'asset' value %q", id)
			}
			if m, _ := asset["buy_delivery_methods"].([]any); len(m) > 0 {
				buyMethods[id], _ = m[0].(map[string]any)["name"].(string)
			}
		default:
			t.Errorf("GET /info: invalid 'asset' value %q", id)
		}
	}
	if stellarAsset == "" || !offChain {
		t.Fatalf("GET /info: Stellar asset %q, off-chain asset found %v", stellarAsset, offChain)
	}

	// GET /prices: returns a valid response (Stellar asset sold).
	pricesOf := func(name string, q url.Values) []any {
		t.Helper()
		status, hdr, b := a.do(t, "GET", qs+"/prices?"+q.Encode(), tok, "", nil)
		m := jsonBody(t, hdr, b)
		list, ok := m["buy_assets"].([]any)
		if status != 200 || !ok || len(onlyKeys(m, "buy_assets")) > 0 {
			t.Fatalf("GET /prices %s: %d %s", name, status, b)
		}
		for _, x := range list {
			p, _ := x.(map[string]any)
			if !isType(p["asset"], "string") || !isType(p["price"], "string") || !isType(p["decimals"], "integer") || num(p["price"]) == 0 {
				t.Errorf("GET /prices %s: entry %v", name, p)
			}
		}
		return list
	}
	list := pricesOf("returns a valid response", url.Values{"sell_asset": {stellarAsset}, "sell_amount": {"100"}})
	if len(list) == 0 {
		t.Fatalf("GET /prices returns a valid response: no off-chain asset priced for %s", stellarAsset)
	}
	first := list[0].(map[string]any)
	offAsset, _ := first["asset"].(string)
	offDecimals := int(first["decimals"].(float64))
	method := buyMethods[offAsset]
	for _, x := range list {
		id, _ := x.(map[string]any)["asset"].(string)
		if parts := strings.Split(id, ":"); len(parts) < 2 || len(parts) > 3 || (len(parts) == 2 && parts[0] != "iso4217") ||
			(len(parts) == 3 && parts[0] != "stellar") {
			t.Errorf("GET /prices: invalid 'asset' value %q", id)
		}
	}
	// allows off-chain assets as 'sell_asset': what is bought must be a Stellar asset.
	for _, x := range pricesOf("allows off-chain assets as 'sell_asset'", url.Values{"sell_asset": {offAsset}, "sell_amount": {"100"}}) {
		id, _ := x.(map[string]any)["asset"].(string)
		parts := strings.Split(id, ":")
		if id != "stellar:native" && (len(parts) != 3 || parts[0] != "stellar") {
			t.Errorf("allows off-chain assets as 'sell_asset': invalid 'asset' value %q", id)
		} else if id != "stellar:native" {
			if _, err := keypair.ParseAddress(parts[2]); err != nil {
				t.Errorf("allows off-chain assets as 'sell_asset': invalid 'asset' value %q", id)
			}
		}
	}
	// specifying delivery method is optional (the suite also sends buy_asset here).
	if method != "" {
		pricesOf("specifying delivery method is optional", url.Values{"sell_asset": {stellarAsset}, "buy_asset": {offAsset}, "sell_amount": {"100"}})
	}

	// GET /price.
	price := func(name string, q url.Values) map[string]any {
		t.Helper()
		status, hdr, b := a.do(t, "GET", qs+"/price?"+q.Encode(), tok, "", nil)
		m := jsonBody(t, hdr, b)
		if status != 200 || len(onlyKeys(m, "price", "total_price", "fee", "sell_amount", "buy_amount")) > 0 || !feeValid(m["fee"]) {
			t.Fatalf("GET /price %s: %d %s", name, status, b)
		}
		for _, k := range []string{"price", "total_price", "sell_amount", "buy_amount"} {
			if !isType(m[k], "string") {
				t.Fatalf("GET /price %s: %s is not a string: %s", name, k, b)
			}
		}
		return m
	}
	q := url.Values{"sell_asset": {stellarAsset}, "buy_asset": {offAsset}, "sell_amount": {"100"}, "context": {"sep31"}}
	if method != "" {
		q.Set("buy_delivery_method", method)
	}
	p := price("returns a valid response", q)
	if num(p["buy_amount"]) == 0 || num(p["sell_amount"]) == 0 || num(p["price"]) == 0 {
		t.Errorf("GET /price returns a valid response: amounts are not numbers: %v", p)
	}
	// returned amounts are calculated correctly. The suite's GET /price check divides
	// sell_amount by price, which only holds without a fee; SEP-38's price formulas (the
	// ones its POST /quote check uses) are checked instead.
	if msg := amountsAdd(p, stellarAsset, offAsset, offDecimals); msg != "" {
		t.Errorf("GET /price returned amounts are calculated correctly: %s: %v", msg, p)
	}
	bq := url.Values{"sell_asset": {stellarAsset}, "buy_asset": {offAsset}, "buy_amount": {"100"}, "context": {"sep31"}}
	if method != "" {
		bq.Set("buy_delivery_method", method)
	}
	price("accepts the 'buy_amount' parameter", bq)
	if method != "" {
		price("specifying delivery method is optional", url.Values{"sell_asset": {stellarAsset}, "buy_asset": {offAsset}, "sell_amount": {"100"}, "context": {"sep31"}})
	}

	// POST /quote, for each context.
	for _, ctx := range []string{"sep31", "sep6"} {
		body := map[string]any{"sell_asset": stellarAsset, "buy_asset": offAsset, "sell_amount": "100", "context": ctx}
		raw, _ := json.Marshal(body)
		status, hdr, b := a.do(t, "POST", qs+"/quote", "", "application/json", strings.NewReader(string(raw)))
		if m := jsonBody(t, hdr, b); status != 403 || m["error"] == nil {
			t.Errorf("POST /quote requires SEP-10 authentication (%s): %d %s", ctx, status, b)
		}
		if method != "" {
			body["buy_delivery_method"] = method
		}
		raw, _ = json.Marshal(body)
		status, hdr, b = a.do(t, "POST", qs+"/quote", tok, "application/json", strings.NewReader(string(raw)))
		created := jsonBody(t, hdr, b)
		if status != 201 {
			t.Fatalf("POST /quote returns a valid response (%s): %d %s", ctx, status, b)
		}
		quoteValid(t, "POST /quote returns a valid response ("+ctx+")", created)
		if created["sell_asset"] != stellarAsset || created["buy_asset"] != offAsset {
			t.Errorf("POST /quote (%s): assets don't match parameters: %v", ctx, created)
		}
		if num(created["sell_amount"]) != 100 {
			t.Errorf("POST /quote (%s): 'sell_amount' doesn't match request parameter: %v", ctx, created["sell_amount"])
		}
		if exp, err := time.Parse(time.RFC3339, created["expires_at"].(string)); err != nil || !exp.After(time.Now()) {
			t.Errorf("POST /quote (%s): invalid 'expires_at' %v", ctx, created["expires_at"])
		}
		if msg := amountsAdd(created, stellarAsset, offAsset, offDecimals); msg != "" {
			t.Errorf("POST /quote quote amounts are correctly calculated (%s): %s: %v", ctx, msg, created)
		}

		// GET /quote: requires SEP-10 authentication; can fetch existing quote (the same
		// body); returns 404 for unknown quote ID.
		id, _ := created["id"].(string)
		status, hdr, b = a.do(t, "GET", qs+"/quote/"+id, "", "", nil)
		if m := jsonBody(t, hdr, b); status != 403 || m["error"] == nil {
			t.Errorf("GET /quote requires SEP-10 authentication: %d %s", status, b)
		}
		status, hdr, b = a.do(t, "GET", qs+"/quote/"+id, tok, "", nil)
		fetched := jsonBody(t, hdr, b)
		if status != 200 {
			t.Fatalf("GET /quote can fetch existing quote: %d %s", status, b)
		}
		quoteValid(t, "GET /quote can fetch existing quote", fetched)
		c, _ := json.Marshal(created)
		f, _ := json.Marshal(fetched)
		if string(c) != string(f) {
			t.Errorf("GET /quote can fetch existing quote: bodies differ:\nPOST %s\nGET  %s", c, f)
		}
	}
	status, hdr, b = a.do(t, "GET", qs+"/quote/18e413284", tok, "", nil)
	if m := jsonBody(t, hdr, b); status != 404 || m["error"] == nil {
		t.Errorf("GET /quote returns 404 for unknown quote ID: %d %s", status, b)
	}
}

// quoteValid is the suite's quote schema: the required keys, strings, a date-time expiry,
// a valid fee, no other keys.
func quoteValid(t *testing.T, name string, m map[string]any) {
	t.Helper()
	if extra := onlyKeys(m, "id", "expires_at", "price", "total_price", "fee", "sell_asset", "buy_asset", "sell_amount", "buy_amount",
		"buy_delivery_method", "sell_delivery_method"); len(extra) > 0 {
		t.Errorf("%s: keys outside the schema: %v", name, extra)
	}
	for _, k := range []string{"id", "expires_at", "price", "total_price", "sell_asset", "buy_asset", "sell_amount", "buy_amount"} {
		if !isType(m[k], "string") {
			t.Errorf("%s: %s = %v is not a string", name, k, m[k])
		}
	}
	if !feeValid(m["fee"]) {
		t.Errorf("%s: fee %v", name, m["fee"])
	}
	if num(m["buy_amount"]) == 0 || num(m["sell_amount"]) == 0 || num(m["price"]) == 0 {
		t.Errorf("%s: amounts are not numbers: %v", name, m)
	}
}
