package callbackhttp_test

import (
	"context"
	"encoding/json"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/callback/callbackhttp"
	"github.com/vaspgate/vaspgate/internal/callback/callbacktest"
	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

func post(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestPublishAPI: messages published through POST /admin/v1/messages (behind the admin
// token) reach a real receiver signed, in order per subject, once per idempotency key;
// bad input is refused with a code and nothing recorded.
func TestPublishAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		signer, err := callback.NewStellarSigner(seed)
		if err != nil {
			t.Fatal(err)
		}
		type got struct {
			subject string
			seq     int64
			body    string
		}
		var mu sync.Mutex
		var arrived []got
		var badSig int
		var recv *httptest.Server
		recv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			host := strings.TrimPrefix(recv.URL, "http://")
			seq, _ := strconv.ParseInt(r.Header.Get("Vaspgate-Subject-Sequence"), 10, 64)
			mu.Lock()
			defer mu.Unlock()
			if err := callbacktest.VerifyStellar(r.Header.Get("Signature"), host, b, signer.PublicKey(), time.Now()); err != nil {
				badSig++
			}
			var p struct{ S string }
			_ = json.Unmarshal(b, &p)
			arrived = append(arrived, got{p.S, seq, string(b)})
		}))
		defer recv.Close()
		eng, err := callback.New(context.Background(), db, testkit.FastCallbackOptions(seed))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- eng.Run(ctx) }()
		defer func() { cancel(); <-done }()

		srv := server.New(server.Options{AdminToken: "admin-secret"})
		callbackhttp.RegisterPublish(srv.AdminAPI, eng)
		api := httptest.NewServer(srv.Admin)
		defer api.Close()
		u := api.URL + "/admin/v1/messages"
		dest := recv.URL + "/hook"

		if code, _ := post(t, u, "", `{}`); code != http.StatusUnauthorized {
			t.Fatalf("without the token: %d", code)
		}
		if code, _ := post(t, u, "wrong", `{}`); code != http.StatusUnauthorized {
			t.Fatalf("with a wrong token: %d", code)
		}
		code, out := post(t, u, "admin-secret", `{"destination":"`+dest+`","subject":"a","type":"order.created","payload":{"s":"a","n":1},"idempotency_key":"k1"}`)
		if code != http.StatusAccepted {
			t.Fatalf("one: %d %v", code, out)
		}
		first := out["messages"].([]any)[0].(map[string]any)
		if first["event_id"] != "k1" || first["sequence"].(float64) != 1 || first["duplicate"] != false || first["delivery_id"] == "" {
			t.Fatalf("one: %v", first)
		}
		batch := `[{"destination":"` + dest + `","subject":"a","type":"order.paid","payload":{"s":"a","n":2}},
			{"destination":"` + dest + `","subject":"b","type":"order.created","payload":{"s":"b","n":1}},
			{"destination":"` + dest + `","subject":"a","type":"order.shipped","payload":{"s":"a","n":3}}]`
		if code, out = post(t, u, "admin-secret", batch); code != http.StatusAccepted || len(out["messages"].([]any)) != 3 {
			t.Fatalf("batch: %d %v", code, out)
		}
		code, out = post(t, u, "admin-secret", `{"destination":"`+dest+`","subject":"a","type":"order.created","payload":{"s":"a","n":99},"idempotency_key":"k1"}`)
		again := out["messages"].([]any)[0].(map[string]any)
		if code != http.StatusAccepted || again["duplicate"] != true || again["delivery_id"] != first["delivery_id"] {
			t.Fatalf("repeat: %d %v", code, again)
		}
		for _, bad := range []struct{ body, why string }{
			{`{"destination":"` + dest + `","subject":"a","type":"t"}`, "no payload"},
			{`{"destination":"` + dest + `","subject":"","type":"t","payload":1}`, "no subject"},
			{`{"destination":"` + dest + `","subject":"a","type":"bad type!","payload":1}`, "bad type"},
			{`{"destination":"ftp://x","subject":"a","type":"t","payload":1}`, "not http"},
			{`{"destination":"business","subject":"a","type":"t","payload":1}`, "no business endpoint"},
			{`{"destination":"` + dest + `","subject":"a","type":"t","payload":1,"colour":"red"}`, "unknown field"},
			{`[]`, "empty batch"},
			{`"x"`, "not an object"},
			{`[{"destination":"` + dest + `","subject":"c","type":"t","payload":1},{"subject":"c","type":"t","payload":1}]`, "one bad in a batch"},
		} {
			code, out := post(t, u, "admin-secret", bad.body)
			if code != http.StatusBadRequest || out["code"] != "invalid_message" {
				t.Errorf("%s: %d %v", bad.why, code, out)
			}
		}
		wait.For(t, "four deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(arrived) >= 4 })
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM callback_deliveries`).Scan(&n); err != nil || n != 4 {
			t.Fatalf("deliveries recorded: %d %v (a refused batch must record nothing)", n, err)
		}
		// Once subject a has nothing open, a repeat that would have been its head, batched
		// with a new message of a, leaves the head to the new one (sent, not stuck queued).
		wait.For(t, "the four recorded as delivered", func() bool {
			var open int
			err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM callback_deliveries WHERE status <> 'delivered'`).Scan(&open)
			return err == nil && open == 0
		})
		code, out = post(t, u, "admin-secret", `[{"destination":"`+dest+`","subject":"a","type":"order.created","payload":{"s":"a","n":99},"idempotency_key":"k1"},
			{"destination":"`+dest+`","subject":"a","type":"order.closed","payload":{"s":"a","n":4}}]`)
		if msgs, _ := out["messages"].([]any); code != http.StatusAccepted || len(msgs) != 2 || msgs[0].(map[string]any)["duplicate"] != true {
			t.Fatalf("repeat in a batch: %d %v", code, out)
		}
		wait.For(t, "the message after the repeat", func() bool { mu.Lock(); defer mu.Unlock(); return len(arrived) >= 5 })
		mu.Lock()
		defer mu.Unlock()
		if badSig != 0 {
			t.Errorf("%d bad signatures", badSig)
		}
		var order []string
		for _, g := range arrived {
			if g.subject == "a" {
				order = append(order, g.body)
			}
		}
		want := []string{`{"s":"a","n":1}`, `{"s":"a","n":2}`, `{"s":"a","n":3}`, `{"s":"a","n":4}`}
		if strings.Join(order, " ") != strings.Join(want, " ") {
			t.Errorf("subject a arrived as %v, want %v", order, want)
		}
	})
}
