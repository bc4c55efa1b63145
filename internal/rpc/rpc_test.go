package rpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/transfer/transfertest"
)

type platformTx struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Kind     string `json:"kind"`
	Message  string `json:"message"`
	Sequence int64  `json:"sequence"`
}

func resultTx(t *testing.T, r rpctest.RPCResult) platformTx {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("unexpected error %+v", r.Error)
	}
	var p platformTx
	if err := json.Unmarshal(r.Result, &p); err != nil {
		t.Fatalf("result %s: %v", r.Result, err)
	}
	return p
}

func wantError(t *testing.T, r rpctest.RPCResult, code int, msgPart string) {
	t.Helper()
	if r.Error == nil {
		t.Fatalf("want error %d %q, got result %s", code, msgPart, r.Result)
	}
	if r.Error.Code != code || !strings.Contains(r.Error.Message, msgPart) {
		t.Fatalf("error = %d %q, want %d containing %q", r.Error.Code, r.Error.Message, code, msgPart)
	}
}

func TestEnvelope(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := rpctest.New(t, db, rpctest.Options{BatchSizeLimit: 3})
		txn := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusPendingAnchor)
		get := fmt.Sprintf(`{"jsonrpc":"2.0","id":"a","method":"get_transaction","params":{"id":%q}}`, txn.ID)

		tests := []struct {
			name, body string
			want       string // JSON the answer must equal after normalising, or a substring
		}{
			{"single object", get, `"id":"a","result":{`},
			{"batch keeps order and ids", `[` + get + `,{"jsonrpc":"2.0","id":7,"method":"nope"}]`, `"id":7,"error":{"code":-32601`},
			{"batch limit", `[` + strings.Repeat(get+",", 3) + get + `]`, `[{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"RPC batch size limit[3] exceeded"}}]`},
			{"empty batch", `[]`, `[{"jsonrpc":"2.0","id":null,"error":{"code":-32600`},
			{"not json", `hello`, `[{"jsonrpc":"2.0","id":null,"error":{"code":-32600`},
			{"bad version", `[{"jsonrpc":"1.0","id":1,"method":"get_transaction","params":{"id":"x"}}]`, `"code":-32600,"message":"Unsupported JSON-RPC protocol version[1.0]"`},
			{"no method", `[{"jsonrpc":"2.0","id":1}]`, `"code":-32600,"message":"method is required"`},
			{"bad id", `[{"jsonrpc":"2.0","id":{"x":1},"method":"get_transaction"}]`, `"id":null,"error":{"code":-32600`},
			{"item not an object", `[1]`, `"code":-32600`},
			{"unknown method", `[{"jsonrpc":"2.0","id":1,"method":"do_magic","params":{}}]`, `"code":-32601,"message":"RPC method[do_magic] not found"`},
			{"other protocol", `[{"jsonrpc":"2.0","id":1,"method":"notify_interactive_flow_completed","params":{"transaction_id":"t1"}}]`, `{"id":"t1","code":-32601,"message":"RPC method[notify_interactive_flow_completed] is not supported: it belongs to SEP-24`},
			{"error id is the transaction id", `[{"jsonrpc":"2.0","id":1,"method":"notify_trust_set","params":{"transaction_id":"nope"}}]`, `{"id":"nope","code":-32600,"message":"Transaction with id[nope] is not found"}`},
			{"params of wrong type", `[{"jsonrpc":"2.0","id":1,"method":"notify_trust_set","params":{"transaction_id":5}}]`, `"code":-32602`},
		}
		for _, tt := range tests {
			status, body := s.Call(t, nil, tt.body)
			if status != http.StatusOK {
				t.Errorf("%s: HTTP %d", tt.name, status)
			}
			if !strings.Contains(string(body), tt.want) {
				t.Errorf("%s: answer %s does not contain %s", tt.name, body, tt.want)
			}
		}
		// GET is not an RPC call.
		resp, err := http.Get(s.RPCURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET = %d, want 405", resp.StatusCode)
		}
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef0123456789abcdef"
	db := storetest.New(t, store.SQLite)
	apiKey := rpctest.New(t, db, rpctest.Options{RPCAuth: rpc.Auth{Type: rpc.AuthAPIKey, Secret: secret}})
	jwtStack := rpctest.New(t, storetest.New(t, store.SQLite), rpctest.Options{RPCAuth: rpc.Auth{Type: rpc.AuthJWT, Secret: secret}})
	body := `[{"jsonrpc":"2.0","id":1,"method":"get_transactions","params":{"sep":"6"}}]`
	tok := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	good := jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	tests := []struct {
		name   string
		stack  *rpctest.Stack
		header http.Header
		want   int
	}{
		{"api key", apiKey, http.Header{"X-Api-Key": {secret}}, 200},
		{"api key missing", apiKey, nil, 401},
		{"api key wrong", apiKey, http.Header{"X-Api-Key": {secret + "x"}}, 401},
		{"jwt", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodHS256, []byte(secret), good)}}, 200},
		{"jwt missing", jwtStack, nil, 401},
		{"jwt wrong secret", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodHS256, []byte("another secret of enough length"), good)}}, 401},
		{"jwt expired", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()})}}, 401},
		{"jwt without iat", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": now.Add(time.Minute).Unix()})}}, 401},
		{"jwt living 5 minutes", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})}}, 200},
		{"jwt living a year", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(365 * 24 * time.Hour).Unix()})}}, 401},
		{"jwt backdated to live long", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(time.Hour).Unix()})}}, 401},
		{"jwt without exp", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"iat": now.Unix()})}}, 401},
		{"jwt alg none", jwtStack, http.Header{"Authorization": {"Bearer " + tok(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)}}, 401},
		{"jwt as api key", jwtStack, http.Header{"X-Api-Key": {secret}}, 401},
	}
	for _, tt := range tests {
		status, answer := tt.stack.Call(t, tt.header, body)
		if status != tt.want {
			t.Errorf("%s: HTTP %d %s, want %d", tt.name, status, answer, tt.want)
		}
	}
	if _, err := rpc.New(rpc.Options{Transfers: apiKey.Transfers, BatchSizeLimit: 40, Auth: rpc.Auth{Type: rpc.AuthJWT}}); err == nil {
		t.Error("jwt auth without a secret was accepted")
	}
}

var (
	usd      = map[string]string{"amount": "100", "asset": "iso4217:USD"}
	usdc     = map[string]string{"amount": "99", "asset": "stellar:USDC"}
	fee      = map[string]string{"total": "1", "asset": "iso4217:USD"}
	feeUSDC  = map[string]string{"total": "1", "asset": "stellar:USDC"}
	stellarG = "GBDBRZWIOSZE5NTUUDBKHXFXXHCZSGGOJU3FDMMNVZPDF4L3BSUE27CR"
)

// validParams are parameters each method accepts on a transaction in an allowed state.
func validParams(method, id string) map[string]any {
	p := map[string]any{"transaction_id": id}
	switch method {
	case "request_offchain_funds":
		p["amount_in"], p["amount_out"], p["fee_details"] = usd, usdc, fee
	case "notify_offchain_funds_received":
		p["amount_in"], p["amount_out"], p["fee_details"] = usd, usdc, fee
	case "notify_trust_set":
		p["success"] = true
	case "notify_onchain_funds_sent", "notify_onchain_funds_received":
		p["stellar_transaction_id"] = "b9d0b2292c4e09e8eb22d036171491e87b8d2086bf8b265874c8d182cb9c9020"
	case "request_onchain_funds":
		p["amount_in"], p["amount_out"], p["fee_details"], p["destination_account"] = usdc, usd, feeUSDC, stellarG
	case "notify_offchain_funds_pending":
		p["external_transaction_id"] = "bank-1"
	case "notify_amounts_updated":
		p["amount_out"], p["fee_details"] = usdc, fee
	case "notify_refund_pending", "notify_refund_sent":
		p["refund"] = map[string]any{"id": "r1", "amount": map[string]string{"amount": "99", "asset": "iso4217:USD"},
			"amount_fee": map[string]string{"amount": "1", "asset": "iso4217:USD"}}
	case "notify_transaction_error", "notify_transaction_expired":
		p["message"] = "stopped"
	}
	return p
}

var allStatuses = []transfer.Status{"incomplete", "pending_customer_info_update", "pending_transaction_info_update",
	"pending_user_transfer_start", "pending_user_transfer_complete", "pending_external", "pending_anchor", "on_hold",
	"pending_stellar", "pending_trust", "pending_user", "completed", "refunded", "expired", "error", "no_market",
	"too_small", "too_large"}

// TestTransitions calls every status-changing method on a transaction in every status, of
// both kinds, with and without received funds: allowed ones move to the documented status,
// refused ones answer -32600 with Anchor Platform's message and change nothing.
func TestTransitions(t *testing.T) {
	t.Parallel()
	// Expectations from Anchor Platform's getSupportedStatuses and getNextStatus, transcribed
	// in transfertest independently of transfer.Machine, with vaspgate's stricter rule.
	D, W := transfer.KindDeposit, transfer.KindWithdrawal
	methods := transfer.Methods()
	expect := func(method string, kind transfer.Kind, from transfer.Status, funds bool) (transfer.Status, bool) {
		ok := transfertest.APSupported(method, kind, from, funds) && !transfertest.VaspgateStricter(method, kind, from, funds)
		if method == "notify_refund_sent" {
			// validParams refunds 99 + 1 of the 100 received: all of it.
			return "refunded", ok
		}
		return transfertest.APNext(method, kind), ok
	}

	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := rpctest.New(t, db, rpctest.Options{Quiet: true})
		ctx := context.Background()
		type tcase struct {
			txn   transfer.Transaction
			kind  transfer.Kind
			from  transfer.Status
			funds bool
		}
		for _, method := range methods {
			// Both variants where received funds matter to the method's rows (the full
			// matrix, without a database, is transfer's TestMachineAgainstAnchorPlatform).
			fundsVariants := []bool{false}
			for _, kind := range []transfer.Kind{D, W} {
				for _, from := range allStatuses {
					if transfertest.APSupported(method, kind, from, false) != transfertest.APSupported(method, kind, from, true) {
						fundsVariants = []bool{false, true}
					}
				}
			}
			var cases []tcase
			for _, kind := range []transfer.Kind{D, W} {
				for _, from := range allStatuses {
					for _, funds := range fundsVariants {
						txn := s.NewTransactionWith(t, kind, from, func(tx *transfer.Transaction) {
							tx.AmountIn = &transfer.Amount{Amount: "100", Asset: "iso4217:USD"}
							if funds {
								now := time.Now().UTC()
								tx.TransferReceivedAt = &now
							}
						})
						cases = append(cases, tcase{txn, kind, from, funds})
					}
				}
			}
			for len(cases) > 0 {
				batch := cases[:min(len(cases), 40)]
				cases = cases[len(batch):]
				calls := make([]rpctest.Call, len(batch))
				for i, c := range batch {
					calls[i] = rpctest.Call{Method: method, Params: validParams(method, c.txn.ID)}
				}
				for i, res := range s.Batch(t, calls) {
					c := batch[i]
					txn, kind, from, funds := c.txn, c.kind, c.from, c.funds
					to, ok := expect(method, kind, from, funds)
					name := fmt.Sprintf("%s %s from %s (funds %v)", method, kind, from, funds)
					if ok {
						if res.Error != nil {
							t.Errorf("%s: refused: %+v", name, res.Error)
							continue
						}
						if got := resultTx(t, res); got.Status != string(to) {
							t.Errorf("%s: status %s, want %s", name, got.Status, to)
						}
						continue
					}
					if res.Error == nil || res.Error.Code != rpc.CodeInvalidRequest || res.Error.ID != txn.ID {
						t.Errorf("%s: allowed or wrong error: %s %+v", name, res.Result, res.Error)
						continue
					}
					wantMsg := fmt.Sprintf("RPC method[%s] is not supported. Status[%s], kind[%s], protocol[6], funds received[%v]", method, from, kind, funds)
					if res.Error.Message != wantMsg {
						t.Errorf("%s: message %q, want %q", name, res.Error.Message, wantMsg)
					}
					if cur, _ := s.Transfers.Get(ctx, txn.ID); cur.Version != txn.Version || cur.Status != from {
						t.Errorf("%s: refused call changed the transaction", name)
					}
				}
			}
		}
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := rpctest.New(t, db, rpctest.Options{})
		dep := func(st transfer.Status) string { return s.NewTransaction(t, transfer.KindDeposit, st).ID }
		wd := func(st transfer.Status) string { return s.NewTransaction(t, transfer.KindWithdrawal, st).ID }
		funded := func(st transfer.Status) string {
			return s.NewTransactionWith(t, transfer.KindDeposit, st, func(tx *transfer.Transaction) {
				now := time.Now().UTC()
				tx.TransferReceivedAt = &now
				tx.AmountIn = &transfer.Amount{Amount: "100", Asset: "iso4217:USD"}
			}).ID
		}
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		tests := []struct {
			method string
			params map[string]any
			code   int
			msg    string
		}{
			{"notify_trust_set", map[string]any{}, -32602, "transaction_id is required"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete")}, -32602, "amount_in is required"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "fee_details": fee}, -32602, "All (amount_out is optional) or none of the amount_in, amount_out, and fee_details should be set"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "amount_in": usd, "fee_details": fee}, -32602, "amount_out is required for non-exchange transactions"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "amount_in": usdc, "amount_out": usdc, "fee_details": fee}, -32602, "amount_in.asset should be non-stellar asset"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "amount_in": map[string]string{"amount": "-1", "asset": "iso4217:USD"}, "fee_details": fee}, -32602, "amount_in.amount should be positive"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "amount_in": map[string]any{"amount": true}, "fee_details": fee}, -32602, "invalid params"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "amount_in": usd}, -32602, "All (amount_out is optional)"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "amount_in": usd, "fee_details": map[string]string{"total": "-1", "asset": "x"}}, -32602, "fee_details.total should be non-negative"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "amount_in": usd, "fee_details": fee, "user_action_required_by": past}, -32602, "user_action_required_by can not be in the past"},
			{"request_offchain_funds", map[string]any{"transaction_id": dep("incomplete"), "amount_in": usd, "fee_details": fee, "user_action_required_by": "tomorrow"}, -32602, "ISO 8601"},
			{"request_onchain_funds", map[string]any{"transaction_id": wd("incomplete"), "amount_in": usdc, "amount_out": usd, "fee_details": feeUSDC}, -32602, "destination_account is required"},
			{"request_onchain_funds", map[string]any{"transaction_id": wd("incomplete"), "amount_in": usdc, "amount_out": usd, "fee_details": fee, "destination_account": stellarG}, -32602, "fee_details.asset should be stellar asset"},
			{"request_onchain_funds", map[string]any{"transaction_id": wd("incomplete"), "amount_in": usdc, "amount_out": usd, "fee_details": feeUSDC, "destination_account": stellarG, "memo": "abc"}, -32602, "Invalid id memo"},
			{"notify_onchain_funds_sent", map[string]any{"transaction_id": funded("pending_anchor")}, -32602, "stellar_transaction_id is required"},
			{"notify_onchain_funds_received", map[string]any{"transaction_id": wd("pending_user_transfer_start")}, -32602, "stellar_transaction_id is required"},
			{"notify_offchain_funds_received", map[string]any{"transaction_id": dep("pending_user_transfer_start"), "amount_out": map[string]any{"amount": 5}}, -32602, "Invalid amounts combination provided: all, none or only amount_in should be set"},
			{"notify_amounts_updated", map[string]any{"transaction_id": funded("pending_anchor"), "fee_details": fee}, -32602, "amount_out is required"},
			{"notify_amounts_updated", map[string]any{"transaction_id": funded("pending_anchor"), "amount_out": map[string]any{"amount": 5}}, -32602, "fee_details must be set"},
			{"notify_amounts_updated", map[string]any{"transaction_id": dep("pending_anchor"), "amount_out": usdc, "fee_details": fee}, -32600, "funds received[false]"},
			{"notify_transaction_error", map[string]any{"transaction_id": dep("pending_anchor")}, -32602, "message is required"},
			{"notify_transaction_expired", map[string]any{"transaction_id": dep("pending_anchor")}, -32602, "message is required"},
			{"notify_refund_sent", map[string]any{"transaction_id": funded("pending_anchor")}, -32602, "refund is required"},
			{"notify_refund_sent", map[string]any{"transaction_id": funded("pending_anchor"), "refund": map[string]any{"id": "r", "amount": map[string]string{"amount": "100", "asset": "iso4217:USD"}, "amount_fee": map[string]string{"amount": "1", "asset": "iso4217:USD"}}}, -32602, "Refund amount exceeds amount_in"},
			{"notify_refund_sent", map[string]any{"transaction_id": funded("pending_anchor"), "refund": map[string]any{"id": "r", "amount": map[string]string{"amount": "1", "asset": "iso4217:EUR"}, "amount_fee": map[string]string{"amount": "0", "asset": "iso4217:EUR"}}}, -32602, "refund.amount.asset does not match transaction amount_in_asset"},
			{"notify_customer_info_updated", map[string]any{"transaction_id": dep("incomplete"), "customer_type": "alien"}, -32602, "customer_type[alien]"},
			{"get_transactions", map[string]any{"sep": "SEP_6", "order_by": "CREATED_AT", "order": "DESC", "statuses": []string{"PENDING_ANCHOR"}, "page_size": 201}, -32602, "page_size should be between 1 and 200"},
			{"get_transaction", map[string]any{}, -32602, "transaction_id is required"},
			{"get_transaction", map[string]any{"transaction_id": "missing"}, -32600, "Transaction with id[missing] is not found"},
			{"get_transaction", map[string]any{"id": "missing"}, -32600, "Transaction with id[missing] is not found"},
			{"get_transactions", map[string]any{}, -32602, "sep is required"},
			{"get_transactions", map[string]any{"sep": "24"}, -32602, "sep[24] is not supported"},
			{"get_transactions", map[string]any{"sep": 6, "order_by": "colour"}, -32602, "order_by[colour]"},
			{"get_transactions", map[string]any{"sep": 6, "statuses": []string{"lost"}}, -32602, "[lost] is not a SEP-6 status"},
			{"get_transactions", map[string]any{"sep": 6, "page_size": 0}, -32602, "page_size"},
			// Bounded paging (issue 11, defect 8): a page number whose offset overflowed into
			// a negative OFFSET was -32603 on PostgreSQL.
			{"get_transactions", map[string]any{"sep": 6, "page_size": 200, "page_number": math.MaxInt64 / 100}, -32602, "page_number should be between 0 and 5000"},
			{"get_transactions", map[string]any{"sep": 6, "page_number": math.MaxInt64}, -32602, "page_number should be between 0 and 50000"},
			{"get_transactions", map[string]any{"sep": 6, "page_number": 50001}, -32602, "page_number"},
			{"get_transactions", map[string]any{"sep": 6, "page_number": json.Number("1e30")}, -32602, "invalid params"},
			{"get_transactions", map[string]any{"sep": 6, "page_number": -1}, -32602, "page_number should be non-negative"},
		}
		for _, tt := range tests {
			res := s.Do(t, tt.method, tt.params)
			if res.Error == nil || res.Error.Code != tt.code || !strings.Contains(res.Error.Message, tt.msg) {
				t.Errorf("%s %v: got %s %+v, want %d %q", tt.method, tt.params, res.Result, res.Error, tt.code, tt.msg)
			}
		}
	})
}

// TestPartialRefund: a refund below amount_in goes back to pending_anchor; the rest makes it
// refunded, with the sums kept.
func TestPartialRefund(t *testing.T) {
	t.Parallel()
	s := rpctest.New(t, storetest.New(t, store.SQLite), rpctest.Options{})
	txn := s.NewTransactionWith(t, transfer.KindDeposit, transfer.StatusPendingAnchor, func(tx *transfer.Transaction) {
		now := time.Now().UTC()
		tx.TransferReceivedAt = &now
		tx.AmountIn = &transfer.Amount{Amount: "100", Asset: "iso4217:USD"}
	})
	refund := func(id, amt string) map[string]any {
		return map[string]any{"transaction_id": txn.ID, "refund": map[string]any{"id": id,
			"amount": map[string]string{"amount": amt, "asset": "iso4217:USD"}, "amount_fee": map[string]string{"amount": "0.5", "asset": "iso4217:USD"}}}
	}
	if got := resultTx(t, s.Do(t, "notify_refund_sent", refund("r1", "40"))); got.Status != "pending_anchor" {
		t.Fatalf("partial refund: %s", got.Status)
	}
	if got := resultTx(t, s.Do(t, "notify_refund_sent", refund("r2", "59"))); got.Status != "refunded" {
		t.Fatalf("full refund: %s", got.Status)
	}
	cur, _ := s.Transfers.Get(context.Background(), txn.ID)
	if cur.Refunds == nil || cur.Refunds.AmountRefunded.Amount != "100" || cur.Refunds.AmountFee.Amount != "1" || len(cur.Refunds.Payments) != 2 || cur.CompletedAt == nil {
		t.Fatalf("refunds = %+v", cur.Refunds)
	}
}

// TestNoChangeNoEvent: a call that changes nothing records no callback and no event.
func TestNoChangeNoEvent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := rpctest.New(t, db, rpctest.Options{})
		txn := fundedTx(t, s, transfer.KindDeposit, transfer.StatusPendingAnchor)
		p := map[string]any{"transaction_id": txn.ID, "amount_out": usdc, "fee_details": fee}
		first := resultTx(t, s.Do(t, "notify_amounts_updated", p))
		before := countAll(t, db)
		second := resultTx(t, s.Do(t, "notify_amounts_updated", p))
		if second.Sequence != first.Sequence {
			t.Errorf("identical call moved the version %d -> %d", first.Sequence, second.Sequence)
		}
		if after := countAll(t, db); after != before {
			t.Errorf("identical call recorded %d deliveries", after-before)
		}
	})
}

func countAll(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM callback_deliveries").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGetTransactions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := rpctest.New(t, db, rpctest.Options{})
		a := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusPendingAnchor)
		b := s.NewTransaction(t, transfer.KindWithdrawal, transfer.StatusIncomplete)
		c := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusPendingAnchor)
		res := s.Do(t, "get_transactions", map[string]any{"sep": "6", "statuses": []string{"pending_anchor"}, "order": "desc"})
		var out struct {
			Records []platformTx `json:"records"`
		}
		if res.Error != nil || json.Unmarshal(res.Result, &out) != nil {
			t.Fatalf("get_transactions: %s %+v", res.Result, res.Error)
		}
		if len(out.Records) != 2 || out.Records[0].ID != c.ID || out.Records[1].ID != a.ID {
			t.Fatalf("records = %+v", out.Records)
		}
		res = s.Do(t, "get_transactions", map[string]any{"sep": 6, "page_size": 1, "page_number": 1})
		if res.Error != nil || json.Unmarshal(res.Result, &out) != nil || len(out.Records) != 1 || out.Records[0].ID != b.ID {
			t.Fatalf("page 1 = %s %+v", res.Result, res.Error)
		}
		if got := resultTx(t, s.Do(t, "get_transaction", map[string]any{"id": b.ID})); got.ID != b.ID || got.Kind != "withdrawal" {
			t.Fatalf("get_transaction = %+v", got)
		}
	})
}

// TestConcurrentChanges: many business calls race on one transaction; every call either
// commits or gets the retryable conflict error, and no update is lost.
func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := rpctest.New(t, db, rpctest.Options{})
		txn := fundedTx(t, s, transfer.KindDeposit, transfer.StatusPendingAnchor)
		const n = 16
		var wg sync.WaitGroup
		results := make([]rpctest.RPCResult, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = s.Do(t, "notify_amounts_updated", map[string]any{"transaction_id": txn.ID,
					"amount_out": map[string]string{"amount": fmt.Sprint(i + 1), "asset": "stellar:USDC"}, "fee_details": fee})
			}()
		}
		close(start)
		wg.Wait()
		ok, conflicts := 0, 0
		for _, r := range results {
			switch {
			case r.Error == nil:
				ok++
			case r.Error.Code == rpc.CodeInternal && strings.HasPrefix(r.Error.Message, "Transaction was modified by another request") && r.Error.ID == txn.ID:
				conflicts++
			default:
				t.Errorf("unexpected answer %+v", r.Error)
			}
		}
		cur, err := s.Transfers.Get(context.Background(), txn.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Every successful call was a real change (distinct amounts), so the version counts them.
		if ok+conflicts != n || cur.Version != txn.Version+int64(ok) {
			t.Fatalf("ok %d, conflicts %d, version %d (from %d)", ok, conflicts, cur.Version, txn.Version)
		}
		t.Logf("%d committed, %d conflicts", ok, conflicts)
	})
}

func TestNotifyCustomerInfoUpdated(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{})
		tests := []struct {
			from    transfer.Status
			status  string
			message string
			want    transfer.Status
			code    int
			msg     string
		}{
			{"incomplete", kyc.StatusNeedsInfo, "", "pending_customer_info_update", 0, ""},
			{"pending_customer_info_update", kyc.StatusProcessing, "", "pending_anchor", 0, ""},
			{"pending_customer_info_update", kyc.StatusAccepted, "", "pending_anchor", 0, ""},
			{"pending_anchor", kyc.StatusNeedsInfo, "", "pending_customer_info_update", 0, ""},
			{"pending_customer_info_update", kyc.StatusRejected, "", "", -32602, "message is required"},
			{"pending_customer_info_update", kyc.StatusRejected, "sanctions", "error", 0, ""},
			{"pending_user_transfer_start", kyc.StatusAccepted, "", "", -32600,
				"RPC method[notify_customer_info_updated] is not supported. Status[pending_user_transfer_start], kind[deposit], protocol[6], funds received[false]"},
		}
		for i, tt := range tests {
			id := fmt.Sprintf("c-%d", i)
			s.Business.SetCustomer(kyc.Customer{ID: id, Status: tt.status}, s.User.Account, "")
			txn := s.NewTransaction(t, transfer.KindDeposit, tt.from)
			res := s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": txn.ID,
				"customer_id": id, "customer_type": "sep6", "message": tt.message})
			if tt.code != 0 {
				wantError(t, res, tt.code, tt.msg)
				if cur, _ := s.Transfers.Get(ctx, txn.ID); cur.Version != txn.Version {
					t.Errorf("%s: a refused call changed the transaction", tt.status)
				}
				continue
			}
			if got := resultTx(t, res); got.Status != string(tt.want) {
				t.Errorf("%s from %s: %s, want %s", tt.status, tt.from, got.Status, tt.want)
			}
		}
		if n := countSnapshots(t, db, "c-4"); n != 0 {
			t.Errorf("a refused REJECTED recorded a snapshot")
		}

		// No customer known for the transaction and no customer_id: Anchor Platform's
		// "customer_id absent" row, pending_anchor.
		txn := s.NewTransaction(t, transfer.KindWithdrawal, transfer.StatusIncomplete)
		if got := resultTx(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": txn.ID})); got.Status != "pending_anchor" {
			t.Errorf("no customer: %s", got.Status)
		}
		// An explicit customer the back end does not know is an error.
		txn = s.NewTransaction(t, transfer.KindDeposit, transfer.StatusIncomplete)
		wantError(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": txn.ID, "customer_id": "ghost"}), -32602, "customer not found")

		// Back end down: the RPC fails and nothing changes.
		s.Business.SetCustomer(kyc.Customer{ID: "c-down", Status: kyc.StatusAccepted}, s.User.Account, "")
		txn = s.NewTransaction(t, transfer.KindDeposit, transfer.StatusPendingCustomerInfoUpdate)
		before := countAll(t, db)
		s.Business.SetUnavailable(true)
		res := s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": txn.ID, "customer_id": "c-down"})
		s.Business.SetUnavailable(false)
		wantError(t, res, -32603, "customer back end unavailable")
		if res.Error.ID != txn.ID {
			t.Errorf("error id = %q", res.Error.ID)
		}
		if cur, _ := s.Transfers.Get(ctx, txn.ID); cur.Version != txn.Version || cur.Status != txn.Status {
			t.Error("a failed back end read changed the transaction")
		}
		if after := countAll(t, db); after != before || countSnapshots(t, db, "c-down") != 0 {
			t.Error("a failed back end read recorded something")
		}
		// And once it is back, the same call works.
		if got := resultTx(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": txn.ID, "customer_id": "c-down"})); got.Status != "pending_anchor" {
			t.Errorf("after recovery: %s", got.Status)
		}
	})
}

func countSnapshots(t *testing.T, db *store.DB, id string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM kyc_snapshots WHERE customer_id = ? AND status <> ''", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCustomerReadRace: the transaction changes while notify_customer_info_updated is
// reading the customer. The call must fail with the retryable conflict error and record
// nothing (no snapshot, no callback), so an older customer state can never be recorded
// after a newer one; the retry then succeeds.
func TestCustomerReadRace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{})
		txn := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusPendingCustomerInfoUpdate)
		s.Business.SetCustomer(kyc.Customer{ID: "c-race", Status: kyc.StatusProcessing}, s.User.Account, "")
		var before int // deliveries once the concurrent change (and its business event) committed
		s.Business.OnGet(func() {
			if _, err := s.Transfers.Change(ctx, txn.ID, func(tx *transfer.Transaction) error {
				tx.Message = "changed meanwhile"
				return nil
			}); err != nil {
				t.Errorf("concurrent change: %v", err)
			}
			before = countAll(t, db)
		})
		res := s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": txn.ID, "customer_id": "c-race"})
		wantError(t, res, rpc.CodeInternal, "Transaction was modified by another request")
		if countSnapshots(t, db, "c-race") != 0 || countAll(t, db) != before {
			t.Fatal("the conflicting call recorded something")
		}
		if got := resultTx(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": txn.ID, "customer_id": "c-race"})); got.Status != "pending_anchor" || got.Message != "changed meanwhile" {
			t.Fatalf("retry: %+v", got)
		}
	})
}

// TestFundsSentAt: the business's funds_sent_at becomes completed_at.
func TestFundsSentAt(t *testing.T) {
	t.Parallel()
	s := rpctest.New(t, storetest.New(t, store.SQLite), rpctest.Options{Quiet: true})
	txn := fundedTx(t, s, transfer.KindWithdrawal, transfer.StatusPendingAnchor)
	sent := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	resultTx(t, s.Do(t, "notify_offchain_funds_sent", map[string]any{"transaction_id": txn.ID, "funds_sent_at": sent.Format(time.RFC3339)}))
	cur, _ := s.Transfers.Get(context.Background(), txn.ID)
	if cur.Status != transfer.StatusCompleted || cur.CompletedAt == nil || !cur.CompletedAt.Equal(sent) {
		t.Fatalf("completed_at = %v, want %v", cur.CompletedAt, sent)
	}
}

// fundedTx is a transaction of kind in status whose 100 USD were received.
func fundedTx(t *testing.T, s *rpctest.Stack, kind transfer.Kind, st transfer.Status) transfer.Transaction {
	t.Helper()
	return s.NewTransactionWith(t, kind, st, func(tx *transfer.Transaction) {
		now := time.Now().UTC()
		tx.TransferReceivedAt = &now
		tx.AmountIn = &transfer.Amount{Amount: "100", Asset: "iso4217:USD"}
	})
}

// TestAnchorPlatformParams: parameters as Anchor Platform accepts them: amounts as JSON
// numbers and without assets, get_transaction by transaction_id, Java enum spellings,
// customer types from kyc.types, a memo without memo_type.
func TestAnchorPlatformParams(t *testing.T) {
	t.Parallel()
	s := rpctest.New(t, storetest.New(t, store.SQLite), rpctest.Options{Quiet: true, CustomerTypes: []string{"individual-plus"}})
	dep := s.NewTransactionWith(t, transfer.KindDeposit, transfer.StatusIncomplete, func(tx *transfer.Transaction) {
		tx.AssetIssuer = stellarG
		tx.AmountExpected = &transfer.Amount{Amount: "100", Asset: "iso4217:USD"}
	})
	// Numbers, and amount_expected without an asset.
	resultTx(t, s.Do(t, "request_offchain_funds", json.RawMessage(`{"transaction_id":"`+dep.ID+`",
		"amount_in":{"amount":100,"asset":"iso4217:USD"},"amount_out":{"amount":98.5,"asset":"stellar:USDC:`+stellarG+`"},
		"amount_expected":{"amount":"100"},"fee_details":{"total":1.5,"asset":"iso4217:USD"}}`)))
	// Only amount_in, without an asset: the transaction's.
	resultTx(t, s.Do(t, "notify_offchain_funds_received", json.RawMessage(`{"transaction_id":"`+dep.ID+`","amount_in":{"amount":"100"}}`)))
	cur, _ := s.Transfers.Get(context.Background(), dep.ID)
	if cur.AmountIn == nil || cur.AmountIn.Amount != "100" || cur.AmountIn.Asset != "iso4217:USD" ||
		cur.AmountOut == nil || cur.AmountOut.Amount != "98.5" || cur.FeeDetails == nil || cur.FeeDetails.Total != "1.5" ||
		cur.AmountExpected == nil || cur.AmountExpected.Amount != "100" || !cur.FundsReceived() {
		t.Fatalf("amounts after numbers and asset-less amounts: %+v %+v %+v %+v", cur.AmountIn, cur.AmountOut, cur.FeeDetails, cur.AmountExpected)
	}
	resultTx(t, s.Do(t, "notify_amounts_updated", json.RawMessage(`{"transaction_id":"`+dep.ID+`","amount_out":{"amount":97},"fee_details":{"total":"3","asset":"iso4217:USD"}}`)))
	cur, _ = s.Transfers.Get(context.Background(), dep.ID)
	if cur.AmountOut.Amount != "97" || cur.AmountOut.Asset != "stellar:USDC:"+stellarG {
		t.Fatalf("amount_out after notify_amounts_updated: %+v", cur.AmountOut)
	}
	if got := resultTx(t, s.Do(t, "get_transaction", map[string]any{"transaction_id": dep.ID})); got.ID != dep.ID {
		t.Fatalf("get_transaction by transaction_id: %+v", got)
	}
	res := s.Do(t, "get_transactions", map[string]any{"sep": "SEP_6", "order_by": "CREATED_AT", "order": "DESC",
		"statuses": []string{"PENDING_ANCHOR", "pending_usr_transfer_start"}, "page_size": 5})
	if res.Error != nil || !strings.Contains(string(res.Result), dep.ID) {
		t.Fatalf("get_transactions with Java spellings: %s %+v", res.Result, res.Error)
	}
	// A configured customer type.
	inc := s.NewTransaction(t, transfer.KindWithdrawal, transfer.StatusIncomplete)
	if got := resultTx(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": inc.ID, "customer_type": "individual-plus"})); got.Status != "pending_anchor" {
		t.Fatalf("custom customer type: %+v", got)
	}
	// A memo without memo_type is an id memo.
	wd := s.NewTransaction(t, transfer.KindWithdrawal, transfer.StatusIncomplete)
	resultTx(t, s.Do(t, "request_onchain_funds", map[string]any{"transaction_id": wd.ID, "amount_in": usdc, "amount_out": usd,
		"fee_details": feeUSDC, "destination_account": stellarG, "memo": "12345"}))
	cur, _ = s.Transfers.Get(context.Background(), wd.ID)
	if cur.WithdrawMemo != "12345" || cur.WithdrawMemoType != "id" || cur.WithdrawAnchorAccount != stellarG {
		t.Fatalf("withdrawal memo: %q %q %q", cur.WithdrawMemo, cur.WithdrawMemoType, cur.WithdrawAnchorAccount)
	}
}

// TestCustomerUpdatedOnLink: an already-ACCEPTED customer linked to a new transaction by
// notify_customer_info_updated still gives the business customer_updated (once), so a
// business waiting on it does not stall; a repeated call records nothing.
func TestCustomerUpdatedOnLink(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := rpctest.New(t, db, rpctest.Options{})
		s.Business.SetCustomer(kyc.Customer{ID: "c-acc", Status: kyc.StatusAccepted}, s.User.Account, "")
		customerEvents := func() int {
			n := 0
			for _, e := range s.Business.Events() {
				var ev struct {
					Type string `json:"type"`
				}
				_ = json.Unmarshal(e, &ev)
				if ev.Type == "customer_updated" {
					n++
				}
			}
			return n
		}
		call := func(id string) {
			resultTx(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": id, "customer_id": "c-acc", "customer_type": "sep6"}))
		}
		first := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusIncomplete)
		call(first.ID) // status "" -> ACCEPTED: a change
		second := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusIncomplete)
		call(second.ID) // no change, new link
		call(second.ID) // nothing new
		// Two transaction_created, two transaction_status_changed and two customer_updated.
		s.Business.WaitEvents(t, 6, 20*time.Second)
		if n := customerEvents(); n != 2 {
			t.Fatalf("%d customer_updated events, want 2 (status change, then link)", n)
		}
		// The customer was created under Anchor Platform (vaspgate never saw it): it became the
		// transaction owner's, whose wallet got the one status change.
		if got := s.Wallet.Wait("/sep12", 1, 20*time.Second); len(got) != 1 {
			t.Fatalf("%d SEP-12 wallet callbacks, want 1 (the status change)", len(got))
		}
		// Another owner's transaction cannot take that customer.
		other := s.NewTransactionWith(t, transfer.KindDeposit, transfer.StatusIncomplete, func(tx *transfer.Transaction) {
			tx.Owner.Memo = "42"
		})
		wantError(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": other.ID, "customer_id": "c-acc"}),
			-32602, "belongs to another owner")
		if cur, _ := s.Transfers.Get(context.Background(), other.ID); cur.Version != other.Version {
			t.Fatal("the refused call changed the transaction")
		}
		// A customer under a memo of the owner's account is the account's own (SEP-12: a
		// sending anchor registers its senders and receivers under memos of its account).
		s.Business.SetCustomer(kyc.Customer{ID: "c-memo", Status: kyc.StatusAccepted}, s.User.Account, "7")
		underMemo := s.NewTransactionWith(t, transfer.KindDeposit, transfer.StatusIncomplete, func(tx *transfer.Transaction) {
			tx.Owner.Memo = "7"
		})
		resultTx(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": underMemo.ID, "customer_id": "c-memo", "customer_type": "sep6"}))
		account := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusIncomplete)
		resultTx(t, s.Do(t, "notify_customer_info_updated", map[string]any{"transaction_id": account.ID, "customer_id": "c-memo", "customer_type": "sep6"}))
	})
}
