package rpc_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer/transfertest"
)

// A body that does not arrive before the listener's read timeout is answered 408, not 413
// (issue 11, defect 11); a body over the limit is still 413.
func TestSlowBodyIs408(t *testing.T) {
	t.Parallel()
	s := transfertest.New(t, storetest.New(t, store.SQLite), transfertest.Options{})
	h, err := rpc.New(rpc.Options{BatchSizeLimit: 40, Transfers: s.Transfers, MaxBodyBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers announce 100 bytes; 10 come, the rest never does. The answer comes when the
	// server's read deadline passes; the client only waits for it (bounded below).
	_, err = io.WriteString(conn, "POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"jsonrpc")
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "request_timeout") {
		t.Fatalf("slow body = %d %s, want 408 request_timeout", resp.StatusCode, body)
	}

	big, err := http.Post(srv.URL+"/rpc", "application/json", strings.NewReader(strings.Repeat(" ", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	big.Body.Close()
	if big.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body = %d, want 413", big.StatusCode)
	}
}
