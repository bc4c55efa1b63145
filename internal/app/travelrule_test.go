package app

import (
	"context"
	"database/sql"
	"io"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// The gate's After ends a Travel Rule hold only when the change it hears of took the
// withdrawal out of on_hold, read from the transaction before and after: a payment received
// (by the business or the payment observer) by a withdrawal that was never on_hold leaves a
// hold recorded for it (due, not applied yet) standing, whatever the method's name says.
// Through the assembled app (the travel-rule service's store), on both engines.
func TestGateAfterReleasesOnlyWhenLeavingOnHold(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			a := startGateApp(t, d)
			g := trGate{app: a}
			ctx := context.Background()
			for _, c := range []struct {
				name     string
				method   string
				kind     transfer.Kind
				prev, to transfer.Status
				// released is the hold's released_by afterwards ("" when it stands).
				released string
			}{
				{"payment received out of on_hold", "notify_onchain_funds_received", transfer.KindWithdrawal,
					transfer.StatusOnHold, transfer.StatusPendingAnchor, "business:notify_onchain_funds_received"},
				{"error out of on_hold", "notify_transaction_error", transfer.KindWithdrawal,
					transfer.StatusOnHold, transfer.StatusError, "business:notify_transaction_error"},
				{"exchange withdrawal out of on_hold", "notify_onchain_funds_received", transfer.KindWithdrawalExchange,
					transfer.StatusOnHold, transfer.StatusPendingAnchor, "business:notify_onchain_funds_received"},
				{"payment received, never on hold", "notify_onchain_funds_received", transfer.KindWithdrawal,
					transfer.StatusPendingUserTransferStart, transfer.StatusPendingAnchor, ""},
				{"put on hold", "notify_transaction_on_hold", transfer.KindWithdrawal,
					transfer.StatusPendingAnchor, transfer.StatusOnHold, ""},
				{"on hold, still on hold", "notify_transaction_on_hold", transfer.KindWithdrawal,
					transfer.StatusOnHold, transfer.StatusOnHold, ""},
				{"payout never on hold", "notify_offchain_funds_sent", transfer.KindWithdrawal,
					transfer.StatusPendingAnchor, transfer.StatusCompleted, ""},
				{"SEP-31 receive (no on_hold)", "notify_onchain_funds_received", transfer.KindReceive,
					transfer.StatusPendingSender, transfer.StatusPendingReceiver, ""},
			} {
				t.Run(c.name, func(t *testing.T) {
					id := "tx-" + c.name
					if _, err := a.DB.ExecContext(ctx, `INSERT INTO travel_rule_holds (transaction_id, verification_uuid,
					risk_level, reason, held_at) VALUES (?, ?, 'HIGH', 'risk HIGH', ?)`, id, "v-"+c.name, store.Micros(time.Now())); err != nil {
						t.Fatal(err)
					}
					prev := transfer.Transaction{ID: id, Kind: c.kind, Status: c.prev}
					next := prev
					next.Status = c.to
					g.After(ctx, c.method, &prev, &next)
					var (
						by string
						at sql.NullInt64
					)
					if err := a.DB.QueryRowContext(ctx, "SELECT released_by, released_at FROM travel_rule_holds WHERE transaction_id = ?", id).Scan(&by, &at); err != nil {
						t.Fatal(err)
					}
					if by != c.released || at.Valid != (c.released != "") {
						t.Errorf("hold after %s %s → %s: released_by %q, released_at set %v; want %q", c.method, c.prev, c.to, by, at.Valid, c.released)
					}
				})
			}
		})
	}
}

// startGateApp runs the assembled app with the Travel Rule's beneficiary side on (an
// enclave token) against a fresh database of engine d, stopped at the end of the test.
func startGateApp(t *testing.T, d store.Dialect) *App {
	t.Helper()
	return startApp(t, d, func(cfg *config.Config) { cfg.TravelRule.AuthorizationToken = "enclave-token-0123456789" })
}

// startApp runs the assembled app in the development configuration on loopback listeners
// (no ledger) against a fresh database of engine d, edited by edit when not nil, and stops
// it at the end of the test, where Run must return cleanly.
func startApp(t *testing.T, d store.Dialect, edit func(*config.Config)) *App {
	t.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = storetest.URL(t, d)
	cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Stellar.Ledger = config.LedgerNone
	cfg.TravelRule.SpoolDir = t.TempDir()
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(context.Background(), cfg, quiet(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a
}
