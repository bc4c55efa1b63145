package rpc_test

import (
	"context"
	"encoding/json"
	"github.com/vaspgate/vaspgate/internal/rpc"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

func restCall(t *testing.T, s *rpctest.Stack, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.RPCURL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestRESTPlatformAPI: Anchor Platform's REST platform API on the RPC's listener, with the
// RPC's authentication, and PATCH through the same state machine and outbox.
func TestRESTPlatformAPI(t *testing.T) {
	t.Parallel()
	const key = "0123456789abcdef0123456789abcdef"
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		s := rpctest.New(t, db, rpctest.Options{RPCAuth: rpc.Auth{Type: rpc.AuthAPIKey, Secret: key}})
		a := s.NewTransaction(t, transfer.KindDeposit, transfer.StatusIncomplete)
		b := s.NewTransaction(t, transfer.KindWithdrawal, transfer.StatusPendingAnchor)

		if status, _ := restCall(t, s, "GET", "/transactions/"+a.ID, "", ""); status != http.StatusUnauthorized {
			t.Fatalf("GET without the API key: %d", status)
		}
		if status, _ := restCall(t, s, "PATCH", "/transactions", "wrong", `{"records":[]}`); status != http.StatusUnauthorized {
			t.Fatalf("PATCH with a wrong key: %d", status)
		}
		status, got := restCall(t, s, "GET", "/transactions/"+a.ID, key, "")
		if status != 200 || got["id"] != a.ID || got["sep"] != "6" || got["customers"] == nil {
			t.Fatalf("GET /transactions/{id}: %d %v", status, got)
		}
		if status, _ := restCall(t, s, "GET", "/transactions/nope", key, ""); status != http.StatusNotFound {
			t.Fatalf("unknown id: %d", status)
		}
		status, got = restCall(t, s, "GET", "/transactions?sep=6&statuses=pending_anchor,incomplete&order_by=created_at&order=desc&page_size=1", key, "")
		recs, _ := got["records"].([]any)
		if status != 200 || len(recs) != 1 || recs[0].(map[string]any)["id"] != b.ID {
			t.Fatalf("GET /transactions: %d %v", status, got)
		}
		// As Anchor Platform's reference server asks on customer_updated (PlatformClient).
		status, got = restCall(t, s, "GET", "/transactions?sep=sep_6&order_by=created_at&order=asc&statuses=incomplete", key, "")
		if recs, _ := got["records"].([]any); status != 200 || len(recs) != 1 || recs[0].(map[string]any)["id"] != a.ID {
			t.Fatalf("GET /transactions as the reference server: %d %v", status, got)
		}
		if status, _ := restCall(t, s, "GET", "/transactions", key, ""); status != http.StatusBadRequest {
			t.Fatalf("GET /transactions without sep: %d", status)
		}
		// SEP-31 receives are listed under sep=31 only, with SEP-31's statuses.
		recv := s.NewTransactionWith(t, transfer.KindReceive, transfer.StatusPendingReceiver, nil)
		s.NewTransactionWith(t, transfer.KindReceive, transfer.StatusPendingSender, nil)
		status, got = restCall(t, s, "GET", "/transactions?sep=31&statuses=pending_receiver&order_by=created_at&order=desc", key, "")
		if recs, _ := got["records"].([]any); status != 200 || len(recs) != 1 || recs[0].(map[string]any)["id"] != recv.ID ||
			recs[0].(map[string]any)["sep"] != "31" || recs[0].(map[string]any)["kind"] != "receive" {
			t.Fatalf("GET /transactions?sep=31: %d %v", status, got)
		}
		status, got = restCall(t, s, "GET", "/transactions?sep=31", key, "")
		if recs, _ := got["records"].([]any); status != 200 || len(recs) != 2 {
			t.Fatalf("GET /transactions?sep=31 (all): %d %v", status, got)
		}
		status, got = restCall(t, s, "GET", "/transactions?sep=6", key, "")
		if status != 200 {
			t.Fatalf("GET /transactions?sep=6: %d %v", status, got)
		}
		for _, r := range got["records"].([]any) {
			if r.(map[string]any)["sep"] != "6" {
				t.Fatalf("GET /transactions?sep=6 lists %v", r)
			}
		}
		// A known status of another protocol matches nothing (Anchor Platform reads statuses
		// as one enum for every SEP).
		if status, got := restCall(t, s, "GET", "/transactions?sep=31&statuses=pending_anchor", key, ""); status != 200 || len(got["records"].([]any)) != 0 {
			t.Fatalf("GET /transactions?sep=31 with a SEP-6 status: %d %v", status, got)
		}

		// A status no method leads to from here is refused and changes nothing.
		status, got = restCall(t, s, "PATCH", "/transactions", key, `{"records":[{"transaction":{"id":"`+a.ID+`","status":"completed"}}]}`)
		if status != http.StatusBadRequest {
			t.Fatalf("PATCH incomplete -> completed: %d %v", status, got)
		}
		if cur, _ := s.Transfers.Get(ctx, a.ID); cur.Version != a.Version {
			t.Fatal("a refused PATCH changed the transaction")
		}
		// Setting funds received in the same patch does not make completion reachable from
		// incomplete either.
		if status, _ := restCall(t, s, "PATCH", "/transactions", key, `{"records":[{"transaction":{"id":"`+a.ID+`","status":"completed","transfer_received_at":"2026-01-01T00:00:00Z"}}]}`); status != http.StatusBadRequest {
			t.Fatalf("PATCH incomplete -> completed with funds: %d", status)
		}
		// An allowed move with amounts, as one commit with its business event.
		before := len(s.Business.Events())
		status, got = restCall(t, s, "PATCH", "/transactions", key, `{"records":[{"transaction":{"id":"`+a.ID+`","status":"pending_anchor",
			"amount_in":{"amount":"10","asset":"iso4217:USD"},"amount_out":{"amount":9.5},"message":"checked"}}]}`)
		recs, _ = got["records"].([]any)
		if status != 200 || len(recs) != 1 || recs[0].(map[string]any)["status"] != "pending_anchor" {
			t.Fatalf("PATCH incomplete -> pending_anchor: %d %v", status, got)
		}
		cur, _ := s.Transfers.Get(ctx, a.ID)
		if cur.AmountIn == nil || cur.AmountIn.Amount != "10" || cur.AmountOut == nil || cur.AmountOut.Amount != "9.5" || cur.Message != "checked" {
			t.Fatalf("patched fields: %+v", cur)
		}
		// transaction_created (a, b) and transaction_status_changed reach the business.
		s.Business.WaitEvents(t, before+1, 20*time.Second)

		// Malformed bodies.
		for _, body := range []string{`{}`, `{"records":[{}]}`, `not json`, `{"records":[{"transaction":{"id":"` + a.ID + `","status":"lost"}}]}`} {
			if status, _ := restCall(t, s, "PATCH", "/transactions", key, body); status != http.StatusBadRequest {
				t.Errorf("PATCH %s: %d, want 400", body, status)
			}
		}
		if status, got := restCall(t, s, "GET", "/health", "", ""); status != 200 || got["checks"] == nil {
			t.Fatalf("GET /health: %d %v", status, got)
		}
	})
}
