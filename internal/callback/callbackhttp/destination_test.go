package callbackhttp_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
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

// webhookReceiver is a loopback receiver of a Standard Webhooks destination: it verifies
// every request with the keys it trusts (callbacktest, written from the specification) and
// keeps what arrived.
type webhookReceiver struct {
	srv     *httptest.Server
	trusted []string

	mu      sync.Mutex
	bodies  []string
	ids     []string
	bad     []string
	stellar int // requests that carried a Stellar Signature header
}

func newWebhookReceiver(t *testing.T, trusted ...string) *webhookReceiver {
	r := &webhookReceiver{trusted: trusted}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		err := callbacktest.VerifyStandardWebhooks(req.Header, b, r.trusted, time.Now())
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get("Signature") != "" {
			r.stellar++
		}
		if err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if req.Header.Get("webhook-id") != req.Header.Get("Vaspgate-Event-Id") {
			r.bad = append(r.bad, "webhook-id is not the event id")
		}
		r.bodies = append(r.bodies, string(b))
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) got() (bodies, ids, bad []string, stellar int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...), append([]string(nil), r.ids...), append([]string(nil), r.bad...), r.stellar
}

// TestPublishToDestination: messages published through POST /admin/v1/messages to a
// configured destination (callback.destinations) reach its URL byte for byte, in order per
// subject, signed with Standard Webhooks with every secret it has (an HMAC secret being
// rotated: the receiver trusting either verifies; an ed25519 key), never with the Stellar
// signature; the destination is dialled under the operator's SSRF scope, not the wallets';
// the endpoints API lists it; an event id Standard Webhooks cannot carry and an unknown
// destination name are refused.
func TestPublishToDestination(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		newSecret, _ := callbacktest.NewWebhookSecret()
		oldSecret, _ := callbacktest.NewWebhookSecret()
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		whsk := "whsk_" + base64.StdEncoding.EncodeToString(priv)
		whpk := "whpk_" + base64.StdEncoding.EncodeToString(pub)

		orders := newWebhookReceiver(t, oldSecret) // has not taken the new secret yet
		payouts := newWebhookReceiver(t, whpk)
		opts := testkit.FastCallbackOptions(seed)
		// Loopback is open to the operator's destinations only: a destination must be
		// dialled under callback.allow_cidrs, not as a wallet's URL.
		opts.WalletAllowCIDRs = nil
		opts.Destinations = []callback.Destination{
			{ID: "orders", URL: orders.srv.URL + "/hooks", WebhookSecrets: []string{newSecret, oldSecret}},
			{ID: "payouts", URL: payouts.srv.URL + "/hooks", WebhookSecrets: []string{whsk}},
		}
		eng, err := callback.New(context.Background(), db, opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- eng.Run(ctx) }()
		defer func() { cancel(); <-done }()

		srv := server.New(server.Options{AdminToken: "admin-secret"})
		callbackhttp.RegisterPublish(srv.AdminAPI, eng)
		callbackhttp.Register(srv.AdminAPI, eng)
		api := httptest.NewServer(srv.Admin)
		defer api.Close()
		u := api.URL + "/admin/v1/messages"

		code, out := post(t, u, "admin-secret", `{"destination":"orders","subject":"order:1","type":"order.created","payload":{"n":1},"idempotency_key":"order-1-created"}`)
		if code != http.StatusAccepted {
			t.Fatalf("one: %d %v", code, out)
		}
		if m := out["messages"].([]any)[0].(map[string]any); m["endpoint_id"] != "orders" || m["event_id"] != "order-1-created" || m["sequence"].(float64) != 1 {
			t.Fatalf("one: %v", m)
		}
		batch := `[{"destination":"orders","subject":"order:1","type":"order.paid","payload": {"n":2,  "amount":"10.00"}},
			{"destination":"payouts","subject":"payout:7","type":"payout.sent","payload":{"p":7}},
			{"destination":"orders","subject":"order:1","type":"order.shipped","payload":{"n":3}}]`
		if code, out = post(t, u, "admin-secret", batch); code != http.StatusAccepted || len(out["messages"].([]any)) != 3 {
			t.Fatalf("batch: %d %v", code, out)
		}
		for _, bad := range []struct{ body, why string }{
			{`{"destination":"orders","subject":"a","type":"t","payload":1,"idempotency_key":"order.1"}`, "a '.' in the event id"},
			{`{"destination":"nowhere","subject":"a","type":"t","payload":1}`, "no such destination"},
		} {
			if code, out := post(t, u, "admin-secret", bad.body); code != http.StatusBadRequest || out["code"] != "invalid_message" {
				t.Errorf("%s: %d %v", bad.why, code, out)
			}
		}

		wait.For(t, "three orders and one payout", func() bool {
			o, _, _, _ := orders.got()
			p, _, _, _ := payouts.got()
			return len(o) == 3 && len(p) == 1
		})
		bodies, ids, bad, stellar := orders.got()
		if len(bad) != 0 || stellar != 0 {
			t.Fatalf("orders: refused %v, %d with a Stellar signature", bad, stellar)
		}
		// Byte for byte, the payload's own spacing kept; in publication order.
		if want := `{"n":1} {"n":2,  "amount":"10.00"} {"n":3}`; strings.Join(bodies, " ") != want {
			t.Errorf("orders received %q, want %q", strings.Join(bodies, " "), want)
		}
		if ids[0] != "order-1-created" {
			t.Errorf("webhook-id %q, want the idempotency key", ids[0])
		}
		if bodies, _, bad, stellar := payouts.got(); len(bad) != 0 || stellar != 0 || bodies[0] != `{"p":7}` {
			t.Errorf("payouts: %v, refused %v, %d with a Stellar signature", bodies, bad, stellar)
		}

		// The receiver that takes the new secret only keeps verifying: both are sent.
		orders.mu.Lock()
		orders.trusted = []string{newSecret}
		orders.mu.Unlock()
		if code, out := post(t, u, "admin-secret", `{"destination":"orders","subject":"order:1","type":"order.closed","payload":{"n":4}}`); code != http.StatusAccepted {
			t.Fatalf("after the rotation: %d %v", code, out)
		}
		wait.For(t, "the fourth order", func() bool { o, _, _, _ := orders.got(); return len(o) == 4 })
		if _, _, bad, _ := orders.got(); len(bad) != 0 {
			t.Errorf("after the rotation: refused %v", bad)
		}

		eps, err := eng.Endpoints(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]string{}
		for _, e := range eps {
			kinds[e.ID] = e.Kind + " " + e.URL
		}
		if kinds["orders"] != "destination "+orders.srv.URL+"/hooks" || kinds["payouts"] != "destination "+payouts.srv.URL+"/hooks" {
			t.Errorf("endpoints: %v", kinds)
		}
	})
}

// TestDestinationOptions: the engine refuses destinations it could not sign for or name.
func TestDestinationOptions(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	const sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, tc := range []struct {
		name string
		ds   []callback.Destination
	}{
		{"no secret", []callback.Destination{{ID: "orders", URL: "https://o.example/h"}}},
		{"a secret too short", []callback.Destination{{ID: "orders", URL: "https://o.example/h", WebhookSecrets: []string{"whsec_c2hvcnQ="}}}},
		{"named business", []callback.Destination{{ID: "business", URL: "https://o.example/h", WebhookSecrets: []string{sec}}}},
		{"named like a wallet endpoint", []callback.Destination{{ID: "wal_1", URL: "https://o.example/h", WebhookSecrets: []string{sec}}}},
		{"not a URL", []callback.Destination{{ID: "orders", URL: "orders.example", WebhookSecrets: []string{sec}}}},
		{"twice", []callback.Destination{{ID: "orders", URL: "https://o.example/h", WebhookSecrets: []string{sec}},
			{ID: "orders", URL: "https://o.example/i", WebhookSecrets: []string{sec}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testkit.FastCallbackOptions(seed)
			opts.Destinations = tc.ds
			if _, err := callback.New(context.Background(), db, opts); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
