package callbackhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/vaspgate/vaspgate/internal/testkit"
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
			{`{"destination":"` + dest + `","subject":"a","type":"t","payload":1} x`, "something after the message"},
			{`{"destination":"` + dest + `","subject":"a","type":"t","payload":1}{}`, "a second value"},
			{`{"destination":"` + dest + `","subject":"a","type":"t","payload":{"x":`, "cut short"},
			{`{"destination":"` + dest + `","subject":"a","type":"t","payload":{"x" 1}}`, "a payload that is not JSON"},
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

// TestPublishAPIConcurrentPublishers: publishers posting at once over real HTTP (their calls
// merged into group commits) each get their own results: a publisher's messages take
// sequences in the order it sent them, every subject's sequences are handed out once, an
// idempotency key sent by all publishers at once is one delivery, and a call the database
// refuses fails alone (503) while the calls committed beside it are recorded.
func TestPublishAPIConcurrentPublishers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		storetest.RefuseInserts(t, db, "callback_deliveries", "subject", "poison")
		eng, err := callback.New(context.Background(), db, testkit.FastCallbackOptions(seed))
		if err != nil {
			t.Fatal(err)
		}
		srv := server.New(server.Options{AdminToken: "admin-secret"})
		callbackhttp.RegisterPublish(srv.AdminAPI, eng)
		api := httptest.NewServer(srv.Admin)
		defer api.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer client.CloseIdleConnections()

		const publishers, calls = 24, 10
		dest := "http://127.0.0.1:1/hook"
		type sent struct{ subject, key string }
		type answer struct {
			code int
			msgs []callback.Published
		}
		plan := func(p, c int) []sent {
			var ms []sent
			for m := range 1 + (p+c)%3 {
				ms = append(ms, sent{subject: fmt.Sprintf("s%d", (p+c+m)%4)})
			}
			if c%5 == 0 { // every publisher sends this key at about the same time
				ms = append(ms, sent{subject: "dup", key: fmt.Sprintf("shared-%d", c/5)})
			}
			if p == 0 && c == 7 {
				ms = append(ms, sent{subject: "poison"})
			}
			return ms
		}
		answers := make([][]answer, publishers)
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range calls {
					var body []string
					for m, s := range plan(p, c) {
						body = append(body, fmt.Sprintf(`{"destination":%q,"subject":%q,"type":"t","payload":{"p":%d,"c":%d,"m":%d},"idempotency_key":%q}`,
							dest, s.subject, p, c, m, s.key))
					}
					req, _ := http.NewRequest(http.MethodPost, api.URL+"/admin/v1/messages", strings.NewReader("["+strings.Join(body, ",")+"]"))
					req.Header.Set("Authorization", "Bearer admin-secret")
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					var out struct{ Messages []callback.Published }
					_ = json.NewDecoder(resp.Body).Decode(&out)
					resp.Body.Close()
					answers[p] = append(answers[p], answer{resp.StatusCode, out.Messages})
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}

		type seqKey struct {
			subject string
			seq     int64
		}
		given := map[seqKey]string{} // (subject, sequence) -> delivery, from the answers
		keyed := map[string]string{} // idempotency key -> delivery
		firsts := map[string]int{}   // idempotency key -> answers not marked duplicate
		for p := range publishers {
			last := map[string]int64{} // subject -> this publisher's latest sequence
			for c, a := range answers[p] {
				ms := plan(p, c)
				if p == 0 && c == 7 {
					if a.code != http.StatusServiceUnavailable {
						t.Errorf("the refused call answered %d", a.code)
					}
					continue
				}
				if a.code != http.StatusAccepted || len(a.msgs) != len(ms) {
					t.Fatalf("publisher %d call %d: %d with %d messages for %d", p, c, a.code, len(a.msgs), len(ms))
				}
				for m, got := range a.msgs {
					if got.Subject != ms[m].subject || (ms[m].key != "" && got.EventID != ms[m].key) || got.DeliveryID == "" {
						t.Errorf("publisher %d call %d message %d: %+v for %+v", p, c, m, got, ms[m])
					}
					if ms[m].key != "" {
						if d, ok := keyed[got.EventID]; ok && d != got.DeliveryID {
							t.Errorf("key %s: delivery %s and %s", got.EventID, d, got.DeliveryID)
						}
						keyed[got.EventID] = got.DeliveryID
						if !got.Duplicate {
							firsts[got.EventID]++
						}
					}
					if got.Duplicate {
						continue
					}
					if got.Sequence <= last[got.Subject] {
						t.Errorf("publisher %d call %d message %d: %s sequence %d after %d", p, c, m, got.Subject, got.Sequence, last[got.Subject])
					}
					last[got.Subject] = got.Sequence
					k := seqKey{got.Subject, got.Sequence}
					if d, ok := given[k]; ok {
						t.Errorf("%s sequence %d given to %s and %s", k.subject, k.seq, d, got.DeliveryID)
					}
					given[k] = got.DeliveryID
				}
			}
		}
		for k, n := range firsts {
			if n != 1 {
				t.Errorf("key %s: %d answers not marked duplicate, want 1", k, n)
			}
		}
		rows, err := db.QueryContext(context.Background(), `SELECT subject, seq, id FROM callback_deliveries`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		recorded := map[seqKey]string{}
		for rows.Next() {
			var k seqKey
			var id string
			if err := rows.Scan(&k.subject, &k.seq, &id); err != nil {
				t.Fatal(err)
			}
			recorded[k] = id
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(recorded) != len(given) {
			t.Errorf("%d deliveries recorded, %d answered", len(recorded), len(given))
		}
		for k, id := range given {
			if recorded[k] != id {
				t.Errorf("%s sequence %d: answered %s, recorded %q", k.subject, k.seq, id, recorded[k])
			}
		}
	})
}
