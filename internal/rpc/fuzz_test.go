package rpc_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// FuzzServe feeds the JSON-RPC endpoint arbitrary bodies, as a broken or hostile business
// client could send them: every body gets an answer that encodes as JSON, an object or an
// array of at most the batch limit, each item with exactly one of result and error.
func FuzzServe(f *testing.F) {
	db := storetest.New(f, store.SQLite)
	s := rpctest.New(f, db, rpctest.Options{Quiet: true, BatchSizeLimit: 5})
	txn := s.NewTransaction(f, transfer.KindDeposit, transfer.StatusPendingAnchor)
	for _, seed := range []string{
		``, `[]`, `{}`, `null`, `[null]`, `"x"`, `[1,2,3]`, `{"jsonrpc":"2.0"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"get_transaction","params":{"id":"` + txn.ID + `"}}]`,
		`{"jsonrpc":"2.0","id":"a","method":"notify_transaction_on_hold","params":{"transaction_id":"` + txn.ID + `"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"nope"},{"jsonrpc":"1.0","id":2,"method":"get_transactions"}]`,
		`[{"jsonrpc":"2.0","id":{},"method":"get_transaction"}]`,
		`[{"jsonrpc":"2.0","id":1,"method":"request_offchain_funds","params":{"transaction_id":"` + txn.ID + `","amount_in":{"amount":"-1e400","asset":"x"}}}]`,
		`[{},{},{},{},{},{}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out := s.RPC.Serve(context.Background(), body)
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("answer does not encode: %v", err)
		}
		check := func(r rpc.Response) {
			if (r.Error == nil) == (r.Result == nil) {
				t.Fatalf("answer item must have exactly one of result and error: %s", b)
			}
			if r.JSONRPC != "2.0" {
				t.Fatalf("answer item without jsonrpc 2.0: %s", b)
			}
		}
		switch v := out.(type) {
		case rpc.Response:
			check(v)
		case []rpc.Response:
			if len(v) == 0 || len(v) > 5 {
				t.Fatalf("batch answer of %d items: %s", len(v), b)
			}
			for _, r := range v {
				check(r)
			}
		default:
			t.Fatalf("answer of type %T", out)
		}
	})
}
