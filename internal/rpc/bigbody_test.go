package rpc_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/rpc/rpctest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// A body over the limit is 413. (A body that does not arrive before the listener's read
// timeout is 408 on every route, /rpc included: server's middleware, TestSlowBodyIs408.)
func TestBigBodyIs413(t *testing.T) {
	t.Parallel()
	s := rpctest.New(t, storetest.New(t, store.SQLite), rpctest.Options{})
	h, err := rpc.New(rpc.Options{BatchSizeLimit: 40, Transfers: s.Transfers, MaxBodyBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	big, err := http.Post(srv.URL+"/rpc", "application/json", strings.NewReader(strings.Repeat(" ", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	big.Body.Close()
	if big.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body = %d, want 413", big.StatusCode)
	}
}
