package callback

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback/callbacktest"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// fakeClock is the injected clock: scheduling decisions follow it, the test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// received is one request a test receiver got.
type received struct {
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is a real HTTP server on loopback. respond decides each answer; every request
// is also sent on got.
type receiver struct {
	srv     *httptest.Server
	got     chan received
	mu      sync.Mutex
	respond func(r received, h http.Header) int
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan received, 10000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		in := received{Path: r.URL.Path, Header: r.Header.Clone(), Body: b, At: time.Now()}
		rc.mu.Lock()
		respond := rc.respond
		rc.mu.Unlock()
		code := http.StatusOK
		if respond != nil {
			code = respond(in, w.Header())
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"answer":`+strconv.Itoa(code)+`}`)
		rc.got <- in
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setRespond(f func(r received, h http.Header) int) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

func (rc *receiver) url(path string) string { return rc.srv.URL + path }

func (rc *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("receiver: nothing arrived within 10s")
		return received{}
	}
}

// testConfig allows loopback and uses small numbers so tests finish fast; the rest are
// production's defaults (internal/config), which New does not fill in.
func testConfig() Options {
	return Options{
		AllowCIDRs:       []string{"127.0.0.0/8"},
		WalletAllowCIDRs: []string{"127.0.0.0/8"},
		PollInterval:     20 * time.Millisecond,
		ConnectTimeout:   5 * time.Second,
		Timeout:          2 * time.Second,
		Lease:            5 * time.Second,
		Workers:          16,
		MaxResponseBytes: 16 << 10,
		RetrySchedule: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
			2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour},
		Jitter:             0.2,
		ThrottleFloor:      60 * time.Second,
		CircuitThreshold:   5,
		CircuitCooldown:    30 * time.Second,
		CircuitMaxCooldown: 10 * time.Minute,
		DisableAfter:       120 * time.Hour,
		Retention:          720 * time.Hour,
		SigningSeed:        testSeed,
	}
}

type bundle struct {
	db    *store.DB
	eng   *Engine
	clock *fakeClock
}

// start builds an engine on db and runs it until the test ends.
func start(t *testing.T, db *store.DB, cfg Options, opts ...Option) *Engine {
	t.Helper()
	eng, err := New(context.Background(), db, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return eng
}

func setup(t *testing.T, db *store.DB, cfg Options, opts ...Option) *bundle {
	t.Helper()
	clock := newFakeClock()
	opts = append([]Option{WithClock(clock.Now), WithRand(func() float64 { return 0.5 })}, opts...)
	return &bundle{db: db, eng: start(t, db, cfg, opts...), clock: clock}
}

func (b *bundle) wallet(t *testing.T, u string, m Message) {
	t.Helper()
	if err := b.db.InTx(context.Background(), func(tx *store.Tx) error {
		return b.eng.Outbox().Wallet(context.Background(), tx, u, m)
	}); err != nil {
		t.Fatal(err)
	}
}

func deliveryOf(t *testing.T, e *Engine, eventID string) Delivery {
	t.Helper()
	var id string
	if err := e.db.QueryRowContext(context.Background(), `SELECT id FROM callback_deliveries WHERE event_id = ?`, eventID).Scan(&id); err != nil {
		t.Fatalf("delivery of %s: %v", eventID, err)
	}
	d, err := e.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWalletCallbackSignedAndLogged(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		b := setup(t, db, testConfig())
		body := []byte(`{"id":"c1","status":"ACCEPTED"}`)
		occurred := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
		b.wallet(t, rc.url("/kyc"), Message{EventID: "evt-1", Type: "sep12.customer", Subject: "customer:c1", OccurredAt: occurred, Body: body})
		r := rc.next(t)
		if string(r.Body) != string(body) {
			t.Fatalf("body %q", r.Body)
		}
		u, _ := url.Parse(rc.srv.URL)
		if err := walletVerify(r.Header, u.Host, r.Body, testAddress, time.Now()); err != nil {
			t.Fatalf("wallet verification: %v (header %q)", err, r.Header.Get("Signature"))
		}
		if r.Header.Get("Vaspgate-Event-Id") != "evt-1" || r.Header.Get("Vaspgate-Event-Time") != "2026-02-01T10:00:00Z" {
			t.Fatalf("event headers %v", r.Header)
		}
		wait.For(t, "delivered", func() bool { return deliveryOf(t, b.eng, "evt-1").Status == StatusDelivered })
		d := deliveryOf(t, b.eng, "evt-1")
		if len(d.AttemptLog) != 1 || d.AttemptLog[0].StatusCode != 200 || d.AttemptLog[0].ResponseBody != `{"answer":200}` {
			t.Fatalf("attempt log %+v", d.AttemptLog)
		}
		if string(d.Body) != string(body) || !d.OccurredAt.Equal(occurred) {
			t.Fatalf("delivery %+v", d)
		}
	})
}

func TestOutboxIsTransactional(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		b := setup(t, db, testConfig())
		boom := errors.New("business change failed")
		err := db.InTx(context.Background(), func(tx *store.Tx) error {
			if err := b.eng.Outbox().Wallet(context.Background(), tx, rc.url("/w"), Message{EventID: "rolled-back", Type: "t", Subject: "s", Body: []byte(`{}`)}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		b.wallet(t, rc.url("/w"), Message{EventID: "committed", Type: "t", Subject: "s", Body: []byte(`{"n":2}`)})
		if r := rc.next(t); r.Header.Get("Vaspgate-Event-Id") != "committed" {
			t.Fatalf("got %s first", r.Header.Get("Vaspgate-Event-Id"))
		}
		var n int
		_ = db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM callback_deliveries`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d deliveries recorded, want 1", n)
		}
		// Invalid messages are refused before anything is written.
		for _, m := range []struct {
			u string
			m Message
		}{
			{"ftp://x/y", Message{Type: "t", Subject: "s", Body: []byte(`{}`)}},
			{rc.url("/w"), Message{Type: "t", Subject: "s", Body: []byte(`{`)}},
			{rc.url("/w"), Message{Type: "t", Body: []byte(`{}`)}},
		} {
			err := db.InTx(context.Background(), func(tx *store.Tx) error { return b.eng.Outbox().Wallet(context.Background(), tx, m.u, m.m) })
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%v: %v, want ErrInvalidMessage", m, err)
			}
		}
	})
}

func TestBusinessEnvelopesAndSignatures(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rc := newReceiver(t)
		const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		cfg := testConfig()
		cfg.Business = Business{
			URL:            rc.url("/event"),
			Format:         EnvelopeAnchorPlatform,
			Auth:           Auth{Type: AuthAPIKey, Secret: "api-key-1"},
			WebhookSecrets: []string{whsec},
		}
		b := setup(t, db, cfg)
		occurred := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
		send := func(id string) {
			if err := db.InTx(context.Background(), func(tx *store.Tx) error {
				return b.eng.Outbox().Business(context.Background(), tx, Message{EventID: id, Type: "transaction_status_changed",
					Subject: "transaction:t1", OccurredAt: occurred, Body: []byte(`{"transaction": {"id": "t1"}}`)})
			}); err != nil {
				t.Fatal(err)
			}
		}
		send("e1")
		send("e2")
		for i, want := range []string{"e1", "e2"} {
			r := rc.next(t)
			if r.Path != "/event" || r.Header.Get("X-Api-Key") != "api-key-1" {
				t.Fatalf("path %s, headers %v", r.Path, r.Header)
			}
			if err := callbacktest.VerifyStandardWebhooks(r.Header, r.Body, []string{whsec}, time.Now()); err != nil {
				t.Fatalf("standard webhooks verification: %v", err)
			}
			var env struct {
				ID        string          `json:"id"`
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Sequence  int64           `json:"sequence"`
				Payload   json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(r.Body, &env); err != nil {
				t.Fatal(err)
			}
			if env.ID != want || r.Header.Get("webhook-id") != want || env.Type != "transaction_status_changed" ||
				env.Timestamp != "2026-02-01T10:00:00Z" || env.Sequence != int64(i+1) || string(env.Payload) != `{"transaction":{"id":"t1"}}` {
				t.Fatalf("envelope %s", r.Body)
			}
		}
	})
}

func TestBusinessStandardWebhooksEnvelopeAndJWT(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	rc := newReceiver(t)
	cfg := testConfig()
	cfg.Business = Business{URL: rc.url("/hook"), Format: EnvelopeStandardWebhooks,
		Auth: Auth{Type: AuthJWT, Secret: "jwt-secret-0123456789abcdef", Lifetime: 30 * time.Second}}
	b := setup(t, db, cfg)
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return b.eng.Outbox().Business(context.Background(), tx, Message{EventID: "e1", Type: "customer_updated", Subject: "customer:1",
			OccurredAt: time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC), Body: []byte(`{"customer":{"id":"1"}}`)})
	}); err != nil {
		t.Fatal(err)
	}
	r := rc.next(t)
	if got := string(r.Body); got != `{"type":"customer_updated","timestamp":"2026-02-01T10:00:00Z","data":{"customer":{"id":"1"}}}` {
		t.Fatalf("body %s", got)
	}
	if len(r.Header.Get("Authorization")) < 20 {
		t.Fatalf("no JWT: %v", r.Header)
	}
	// Without a business endpoint, Business records nothing.
	db2 := storetest.New(t, store.SQLite)
	b2 := setup(t, db2, testConfig())
	if err := db2.InTx(context.Background(), func(tx *store.Tx) error {
		return b2.eng.Outbox().Business(context.Background(), tx, Message{Type: "x", Subject: "y", Body: []byte(`{}`)})
	}); err != nil {
		t.Fatal(err)
	}
}
