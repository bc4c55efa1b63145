package app

import (
	"context"

	"github.com/vaspgate/vaspgate/internal/observer"
	"github.com/vaspgate/vaspgate/internal/observer/observerhttp"
	"github.com/vaspgate/vaspgate/internal/stellar"
)

// buildObserver assembles the payment observer when it is enabled: its admin API, its
// metrics and its /readyz detail. Run starts it.
func (a *App) buildObserver() error {
	cfg := a.Config
	if !cfg.Observer.Enabled {
		return nil
	}
	// The stream is bounded by its context, not the lookup timeout (stellar.NewHorizon).
	h, err := stellar.NewHorizon(cfg.ObserverHorizonURL(), nil, cfg.Stellar.HorizonTimeout)
	if err != nil {
		return err
	}
	o, err := observer.New(observer.Options{
		DB: a.DB, Horizon: h, Accounts: cfg.ObserverAccounts(),
		Transfers: a.Transfer, Events: a.Delivery.Outbox(), Hashes: a.Transfer, LeaseTTL: cfg.Observer.LeaseTTL,
		StartCursor: cfg.Observer.StartCursor, LagInterval: cfg.Observer.LagInterval,
		MinBackoff: cfg.Observer.MinBackoff, MaxBackoff: cfg.Observer.MaxBackoff, Logger: a.Log,
		Registerer: a.Registry,
	})
	if err != nil {
		return err
	}
	a.Observer = o
	observerhttp.Register(a.Server.AdminAPI, o)
	observerhttp.RegisterChecks(a.Server.AdminAPI, a.Transfer)
	return nil
}

// runObserver watches the network until ctx ends; transactions stored before the observer
// existed are indexed for matching first.
func (a *App) runObserver(ctx context.Context) error {
	if a.Observer == nil {
		return nil
	}
	if n, err := a.Transfer.IndexPayments(ctx); err != nil {
		a.Log.Warn("observer: index waiting withdrawals", "error", err)
	} else if n > 0 {
		a.Log.Info("observer: indexed waiting withdrawals", "count", n)
	}
	return a.Observer.Run(ctx)
}

// readyDetail is the admin /readyz detail: the observer's leader and lag.
func (a *App) readyDetail(ctx context.Context) map[string]any {
	if a.Observer == nil {
		return nil
	}
	return map[string]any{"observer": a.Observer.Status(ctx)}
}
