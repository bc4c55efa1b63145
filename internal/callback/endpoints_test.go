package callback

import (
	"context"
	"errors"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestCommittedEndpointsAreKnown (issue 16): the endpoints an engine's own committed
// transactions recorded (a published message's, an outbox callback's), the configured
// business endpoint and the publish API's configured destinations are known to it without reading them back, so that the first sends to a
// new endpoint make no query each: at 500 events/s, the first burst of a run read its
// endpoint once per send, each on a connection a cold pool opened, and those were the run's
// slowest deliveries. The engine here does not run, so nothing it knows was read back by a
// send. An endpoint of a transaction that rolled back stays unknown.
func TestCommittedEndpointsAreKnown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rc := newReceiver(t)
		cfg := testConfig()
		cfg.Business = Business{URL: rc.url("/business"), Format: EnvelopeAnchorPlatform, Auth: Auth{Type: AuthNone}}
		cfg.Destinations = []Destination{{ID: "orders", URL: rc.url("/orders"), WebhookSecrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}
		eng, err := New(ctx, db, cfg)
		if err != nil {
			t.Fatal(err)
		}
		known := func(id, kind, want string) {
			t.Helper()
			eng.mu.Lock()
			info, ok := eng.endpoints[id]
			eng.mu.Unlock()
			if !ok {
				t.Fatalf("endpoint %s (%s) not known: its first send would read it back", want, kind)
			}
			if info.kind != kind || info.url.String() != want || info.target != want {
				t.Fatalf("endpoint %s known as %s %s, want %s %s", id, info.kind, info.url, kind, want)
			}
			var dbKind, dbURL string
			if err := db.QueryRowContext(ctx, `SELECT kind, url FROM callback_endpoints WHERE id = ?`, id).Scan(&dbKind, &dbURL); err != nil {
				t.Fatalf("endpoint %s: %v", id, err)
			}
			if dbKind != kind || dbURL != want {
				t.Fatalf("endpoint %s is %s %s in the database, known as %s %s", id, dbKind, dbURL, kind, want)
			}
		}
		known(BusinessEndpointID, KindBusiness, rc.url("/business"))
		known("orders", KindDestination, rc.url("/orders"))

		publishOne(t, eng, rc.url("/published"), "s", "p1")
		known(WalletEndpointID(rc.url("/published")), KindWallet, rc.url("/published"))

		if err := db.InTx(ctx, func(tx *store.Tx) error {
			return eng.Outbox().Wallet(ctx, tx, rc.url("/outbox"), Message{Type: "t", Subject: "s", Body: []byte(`{}`)})
		}); err != nil {
			t.Fatal(err)
		}
		known(WalletEndpointID(rc.url("/outbox")), KindWallet, rc.url("/outbox"))

		rollback := errors.New("rolled back")
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := eng.Outbox().Wallet(ctx, tx, rc.url("/rolled-back"), Message{Type: "t", Subject: "s", Body: []byte(`{}`)}); err != nil {
				return err
			}
			return rollback
		}); !errors.Is(err, rollback) {
			t.Fatalf("rolled back transaction: %v", err)
		}
		eng.mu.Lock()
		_, ok := eng.endpoints[WalletEndpointID(rc.url("/rolled-back"))]
		eng.mu.Unlock()
		if ok {
			t.Fatal("the endpoint of a rolled back transaction is known")
		}
	})
}
