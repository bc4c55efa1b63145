package server_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/server"
)

// A body that does not arrive before the listener's read timeout is answered 408
// request_timeout on every route of both listeners (issue 11, defect 11), whatever the
// handler made of its failed read (a JSON decoder's 400, an upload's 413); a complete bad
// body is still the handler's 400.
func TestSlowBodyIs408(t *testing.T) {
	t.Parallel()
	srv := server.New(server.Options{PublicAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", AdminToken: token,
		ReadTimeout: 300 * time.Millisecond, ShutdownTimeout: time.Second, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	decode := func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := httpjson.Decode(r, 1<<20, &v); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "invalid_body", err.Error())
			return
		}
		httpjson.Write(w, http.StatusOK, v)
	}
	srv.Public.HandleFunc("POST /sep12/customer", decode)
	srv.Public.HandleFunc("PUT /upload", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
		}
	})
	srv.AdminAPI.HandleFunc("POST /admin/v1/echo", decode)
	srv.Admin.HandleFunc("POST /rpc", decode)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// send writes the request's head announcing 100 bytes and only part of them; the
	// answer comes when the server's read deadline passes (the client waits for it,
	// bounded below).
	send := func(addr, method, path, auth, part string) (int, string) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
			map[bool]string{true: "100", false: "2"}[part != "{}"] + "\r\n"
		if auth != "" {
			head += "Authorization: Bearer " + auth + "\r\n"
		}
		if _, err := io.WriteString(conn, head+"\r\n"+part); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, addr, method, path, auth string
	}{
		{"public JSON", srv.PublicAddr(), "POST", "/sep12/customer", ""},
		{"public upload", srv.PublicAddr(), "PUT", "/upload", ""},
		{"admin API", srv.AdminAddr(), "POST", "/admin/v1/echo", token},
		{"rpc", srv.AdminAddr(), "POST", "/rpc", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if code, body := send(tc.addr, tc.method, tc.path, tc.auth, `{"first_na`); code != http.StatusRequestTimeout ||
				!strings.Contains(body, `"code":"request_timeout"`) {
				t.Errorf("slow body = %d %s, want 408 request_timeout", code, body)
			}
		})
	}
	if code, body := send(srv.PublicAddr(), "POST", "/sep12/customer", "", "{}"); code != http.StatusOK {
		t.Errorf("complete body = %d %s, want 200", code, body)
	}
}
