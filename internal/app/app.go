// Package app assembles vaspgate from its parts — database, job engine, delivery engine,
// travel-rule receiver, SEP services, JSON-RPC — and runs them until told to stop. The
// binary's serve command and the end-to-end tests both start vaspgate through it, so what
// the tests exercise is what production runs.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/callback/callbackhttp"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/console"
	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/kyc/kychttp"
	"github.com/vaspgate/vaspgate/internal/lifecycle"
	"github.com/vaspgate/vaspgate/internal/observer"
	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/stellar/stellarhttp"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/transfer/transferhttp"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// App is a running vaspgate.
type App struct {
	Config   config.Config
	DB       *store.DB
	Jobs     *job.Engine
	Server   *server.Server
	Delivery *callback.Engine
	Auth     *stellar.Auth
	KYC      *kyc.Service
	Transfer *transfer.Service
	// TravelRule is the enclave callback receiver's service (always built: its admin API
	// and processing run even when the receiver endpoint is off).
	TravelRule *travelrule.Service
	// Observer is the Stellar payment observer (nil unless observer.enabled).
	Observer *observer.Observer
	Registry *prometheus.Registry
	Log      *slog.Logger

	// Quotes is SEP-38 (nil when quotes.assets is empty).
	Quotes *quote.Service

	deliveryPool *store.DB // the delivery engine's own connections (PostgreSQL), closed by Run
}

// New validates the configuration, opens the database, applies migrations, fills in
// development secrets where none are configured (telling notice about it), builds every
// service and binds both listeners.
// notice receives the human-readable start-up messages (os.Stderr in the binary).
func New(ctx context.Context, cfg config.Config, log *slog.Logger, notice io.Writer) (a *App, err error) {
	// Everything but the values generated below is checked before the database is touched.
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if err := checkDestinations(ctx, cfg, log, nil); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	res, err := db.Migrate(ctx)
	if err != nil {
		return nil, err
	}
	// A burst (the enclave's Verify User Account, 1 s to answer) must not wait for the pool
	// to open its connections: they are opened now and kept open (store.KeepWarm).
	if err := db.KeepWarm(ctx, 32); err != nil {
		log.Warn("database pool not warmed", "err", err)
	}
	if len(res.Applied) > 0 || res.RiverApplied > 0 {
		log.Info("migrations applied", "engine", db.Dialect().String(), "vaspgate", len(res.Applied), "river", res.RiverApplied)
	}
	if err := fillDevSecrets(ctx, db, &cfg, notice); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	a = &App{Config: cfg, DB: db, Log: log, Registry: prometheus.NewRegistry()}
	built := a // a is nil on the error returns below
	defer func() {
		if err != nil && built.deliveryPool != nil {
			built.deliveryPool.Close()
		}
	}()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.build(ctx); err != nil {
		return nil, err
	}
	// Every worker and periodic job is registered: the client can be created, and with it
	// enqueueing works before Run (a spool replay, a request served as Run starts).
	if err := a.Jobs.Open(); err != nil {
		return nil, err
	}
	if err := a.Server.Listen(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *App) build(ctx context.Context) error {
	cfg := a.Config
	keyring, err := keyring(cfg)
	if err != nil {
		return err
	}
	scopes, err := ssrfScopes(cfg)
	if err != nil {
		return err
	}
	// Wallet-facing outbound calls (a wallet's client_domain stellar.toml, its callback
	// URLs) go through the wallet scope: allow_cidrs is for the operator's destinations.
	guard := scopes.Wallet
	outboundHTTP := callback.NewHTTPClient(callback.ClientOptions{Guard: guard, ConnectTimeout: cfg.Callback.ConnectTimeout, Timeout: cfg.Callback.Timeout})

	a.Jobs = job.New(a.DB, job.Options{Logger: a.Log, StopTimeout: cfg.ShutdownTimeout})

	deliveryOpts := []callback.Option{callback.WithConfiguredURLs(scopes.Configured...)}
	if a.DB.Dialect() == store.Postgres {
		// The delivery engine claims and records through connections of its own, so that
		// ingest and delivery do not queue for one pool.
		pool, err := store.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return fmt.Errorf("delivery pool: %w", err)
		}
		a.deliveryPool = pool
		deliveryOpts = append(deliveryOpts, callback.WithPool(pool))
	}
	a.Delivery, err = callback.New(ctx, a.DB, callbackOptions(cfg.Callback, cfg.Stellar.SigningSeed, a.Log, a.Registry), deliveryOpts...)
	if err != nil {
		return err
	}
	outbox := a.Delivery.Outbox()

	so := stellarSettings(cfg.Stellar)
	so.ClientDomainHTTP, so.Redemptions, so.Logger = outboundHTTP, stellar.NewDBRedemptions(a.DB, a.Log), a.Log
	so.Servers = sepServers(cfg)
	a.Auth, err = stellar.New(so)
	if err != nil {
		return err
	}

	lim := newLimits(cfg, a.DB, a.Log)
	cfg.KYC = withSEP31Types(cfg)
	var ledger transfer.Ledger
	if cfg.Stellar.HorizonURL != "" {
		h, err := stellar.NewHorizon(cfg.Stellar.HorizonURL, nil, cfg.Stellar.HorizonTimeout)
		if err != nil {
			return err
		}
		ledger = transfer.HorizonLedger(h)
	}
	var gate transfer.Gate
	if cfg.TravelRule.Originating() || cfg.TravelRule.Enabled() {
		gate = trGate{app: a}
	}
	a.Transfer = transfer.New(transfer.Options{DB: a.DB, Outbox: outbox, Clients: wallets(cfg.Clients), Gate: gate, Ledger: ledger,
		PendingPerIdentity: lim.pending})
	// A transaction expires with the firm quote it took when its funds never arrived.
	a.Transfer.RegisterExpiry(a.Jobs, 30*time.Second, a.Log)

	// KYC comes after transfer: it resolves transaction ownership through it, and a
	// customer's status change moves the transactions waiting on it.
	ko := kycSettings(cfg.KYC)
	ko.Limits, ko.Clients, ko.DB, ko.Sealer, ko.Outbox, ko.Logger = lim.kyc, wallets(cfg.Clients), a.DB, keyring, outbox, a.Log
	ko.CallbackURLs = callback.URLPolicy{Guard: guard, HTTPHosts: cfg.KYC.CallbackHTTPHosts}
	// The business server is the operator's destination: the internal scope's guard.
	ko.BusinessClient = callback.NewHTTPClient(callback.ClientOptions{Guard: scopes.Internal,
		ConnectTimeout: cfg.Callback.ConnectTimeout, Timeout: cfg.KYC.Business.Timeout})
	ko.Transactions, ko.StatusHooks = a.Transfer, []kyc.StatusHook{a.Transfer.CustomerStatusHook}
	a.KYC, err = kyc.New(ko)
	if err != nil {
		return err
	}
	if a.Quotes, err = a.buildQuotes(outbox); err != nil {
		return err
	}

	ro := rpcSettings(cfg.RPC, cfg.KYC, cfg.MaxBodyBytes)
	ro.Transfers, ro.Customers, ro.Logger, ro.TravelRule, ro.Quotes = a.Transfer, a.KYC, a.Log, trLinked{app: a}, a.Quotes
	rpcHandler, err := rpc.New(ro)
	if err != nil {
		return err
	}
	if cfg.RPC.Auth.Type == config.AuthNone {
		a.Log.Warn("the business JSON-RPC has no authentication (rpc.auth.type: none): development only")
	}

	tr := cfg.TravelRule
	policy, err := travelrule.NewRiskPolicy(tr.Risk.AlertLevels, tr.Risk.MatchStrengths, tr.Risk.Reasons, tr.Risk.Unresolved, tr.Risk.IndirectDiscount)
	if err != nil {
		return fmt.Errorf("travel_rule.risk: %w", err)
	}
	spool := tr.SpoolDir
	if spool == "" {
		spool = spoolDir(cfg.DatabaseURL)
		if old := legacySpool(cfg.DatabaseURL); fileExists(old) {
			// Acknowledged callbacks may wait in it: say so rather than leave them behind.
			a.Log.Warn("a travel-rule spool from an earlier version was found; move it into the spool directory to replay it",
				"file", old, "spool_dir", spool)
		}
	}
	// travelrule.New registers its workers and maintenance tasks: it must come before the
	// job engine opens (in New).
	beneficiary, err := a.beneficiary(tr)
	if err != nil {
		return err
	}
	tro := travelRuleSettings(tr)
	tro.Sealer, tro.Events, tro.Policy, tro.SpoolDir, tro.Logger, tro.Registerer = keyring, outbox, &policy, spool, a.Log, a.Registry
	tro.Originator, tro.Beneficiary = a.originator(tr), beneficiary
	a.TravelRule, err = travelrule.New(a.DB, a.Jobs, tro)
	if err != nil {
		return err
	}

	a.Server = server.New(server.Options{
		PublicAddr: cfg.PublicAddr, AdminAddr: cfg.AdminAddr, AdminToken: cfg.AdminToken,
		MaxBodyBytes: cfg.MaxBodyBytes, Ready: a.ready, ReadyDetail: a.readyDetail, Logger: a.Log, Registry: a.Registry,
		AdminHosts: cfg.Admin.Hosts, AdminOrigins: cfg.Admin.Origins,
		AdminTLSCertFile: cfg.Admin.TLSCertFile, AdminTLSKeyFile: cfg.Admin.TLSKeyFile,
		AdminFormPrefixes: []string{console.Prefix},
		AdminExemptPaths:  []string{tr.CallbackPath, tr.AccountAPIPath, tr.VerifyAPIPath, tr.TransactionAPIPath},
		// SEP-12 carries binary KYC fields; its handlers enforce kyc.max_file_size themselves.
		BodyLimits: map[string]int64{"/sep12/customer": a.KYC.MaxFileSize() + 1<<20},
		PublicEdge: lim.publicEdge(), ShutdownTimeout: cfg.ShutdownTimeout,
	})
	sep := stellarhttp.New(a.Auth, a.Log)
	sep.Register(a.Server.Public)
	kychttp.Register(a.Server.Public, a.KYC, lim.sep(sep.RequireWith(kychttp.Refuse)))
	kychttp.RegisterAdmin(a.Server.AdminAPI, a.KYC)
	to := transferSettings(cfg.Transfer)
	to.Transfers, to.Customers, to.Quotes, to.Logger = a.Transfer, a.KYC, a.Quotes, a.Log
	to.Callbacks = callback.URLPolicy{Guard: guard, HTTPHosts: cfg.Transfer.CallbackHTTPHosts}
	transferhttp.Register(a.Server.Public, transferhttp.New(to), lim.sep(sep.RequireWith(transferhttp.Refuse)))
	a.mountQuotes(sep, lim)
	if err := a.mountSEP31(sep, lim, callback.URLPolicy{Guard: guard, HTTPHosts: cfg.Transfer.CallbackHTTPHosts}); err != nil {
		return err
	}
	callbackhttp.Register(a.Server.AdminAPI, a.Delivery)
	callbackhttp.RegisterPublish(a.Server.AdminAPI, a.Delivery)
	travelrulehttp.Register(a.Server.AdminAPI, a.TravelRule)
	// The business routes first, so that the enclave's configurable paths are checked
	// against them before they are registered.
	a.Server.Admin.Handle("POST /rpc", rpcHandler)
	a.Server.Admin.Handle("POST /{$}", rpcHandler)
	rpcHandler.RegisterREST(a.Server.Admin) // Anchor Platform's REST platform API
	if err := a.mountConsole(); err != nil {
		return err
	}
	if err := freeAdminPaths(a.Server.Admin, map[string]string{"travel_rule.callback_path": tr.CallbackPath,
		"travel_rule.account_api_path": tr.AccountAPIPath, "travel_rule.verify_api_path": tr.VerifyAPIPath,
		"travel_rule.transaction_api_path": tr.TransactionAPIPath}); err != nil {
		return err
	}
	enclave, err := travelrulehttp.NewCallbackHandler(a.TravelRule, enclaveSettings(tr, a.Log))
	switch {
	case err == nil:
		// On the admin listener without admin auth (the enclave has its own token) and
		// without the listener's body limit: the handler keeps oversized bodies, truncated,
		// in the quarantine.
		a.Server.Admin.Handle("POST "+tr.CallbackPath, enclave)
		a.Log.Info("travel rule receiver on", "path", tr.CallbackPath)
	case errors.Is(err, travelrulehttp.ErrNoToken):
		a.Log.Warn("travel rule receiver off: VEGA_VERIFICATION_AUTHORIZATION_TOKEN is not set")
	default:
		return err
	}
	if err := a.buildObserver(); err != nil {
		return err
	}
	a.Jobs.Every("delivery_purge", time.Hour, a.Delivery.PurgeRetained)
	a.Jobs.Every("kyc_file_purge", time.Hour, a.KYC.PurgeExpiredFiles)
	if lim.purgeBuckets != nil {
		a.Jobs.Every("rate_bucket_purge", time.Hour, lim.purgeBuckets)
	}
	return a.registerEnclaveAPI(tr)
}

// mountConsole serves the operator console under /console/ on the admin listener.
func (a *App) mountConsole() error {
	cc := a.Config.Console
	if cc.Disabled {
		return nil
	}
	var ops []console.Operator
	for _, o := range cc.Operators {
		h, err := hex.DecodeString(o.TokenSHA256)
		if err != nil || len(h) != sha256.Size {
			return fmt.Errorf("console.operators: %s: token_sha256 is not 64 hex digits", o.Name)
		}
		ops = append(ops, console.Operator{Name: o.Name, Role: o.Role, TokenSHA256: [sha256.Size]byte(h)})
	}
	c, err := console.New(console.Options{
		DB: a.DB, Deliveries: a.Delivery, Customers: a.KYC, Transfers: a.Transfer, TravelRule: a.TravelRule,
		AdminToken: a.Config.AdminToken, Operators: ops, IdleTimeout: cc.IdleTimeout, MaxAge: cc.MaxAge,
		SignInLimit: console.SignInLimit{PerAddress: cc.SignInLimit.PerAddress, Total: cc.SignInLimit.Total, Window: cc.SignInLimit.Window},
		Logger:      a.Log,
	})
	if err != nil {
		return err
	}
	c.Register(a.Server.Admin)
	return nil
}

// ready is the readiness probe: the database answers and every migration is applied.
func (a *App) ready(ctx context.Context) error {
	if err := a.DB.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	ok, err := a.DB.Migrated(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("database migrations not applied")
	}
	return nil
}

// Run serves and works until ctx is cancelled, then shuts down in this order, each stage
// once the one before it has returned (see internal/lifecycle):
//
//  1. the listeners stop accepting, and in-flight requests finish (shutdown_timeout);
//  2. the travel-rule receiver answers the callbacks it queued and closes its spool, job
//     workers drain (running jobs get shutdown_timeout, then are cancelled and retried),
//     the payment observer releases its lease;
//  3. the delivery engine finishes and records the attempts in flight;
//  4. the database closes.
//
// Requests enqueue jobs and record callbacks, jobs record callbacks: each stage stops after
// the ones that feed it. Hourly maintenance is not here: it runs as River periodic jobs
// (job.Engine.Every), once per cluster.
func (a *App) Run(ctx context.Context) error {
	defer a.DB.Close()
	if a.deliveryPool != nil {
		defer a.deliveryPool.Close()
	}
	stopLog := context.AfterFunc(ctx, func() {
		a.Log.Info("shutting down: finishing in-flight work", "grace", a.Config.ShutdownTimeout.String())
	})
	defer stopLog()
	a.Log.Info("vaspgate started", "engine", a.DB.Dialect().String(), "public", a.Server.PublicAddr(), "admin", a.Server.AdminAddr())
	err := lifecycle.Run(ctx,
		lifecycle.Stage{{Name: "server", Run: a.Server.Run}},
		lifecycle.Stage{
			{Name: "travel rule receiver", Run: a.TravelRule.Run},
			{Name: "jobs", Run: a.Jobs.Run},
			{Name: "observer", Run: a.runObserver},
		},
		lifecycle.Stage{{Name: "delivery engine", Run: a.Delivery.Run}},
	)
	a.Log.Info("vaspgate stopped")
	return err
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func keyring(cfg config.Config) (*seal.Keyring, error) {
	cur, err := seal.ParseKey(cfg.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("encryption_key: %w", err)
	}
	var old [][]byte
	for i, s := range cfg.EncryptionOldKeys {
		k, err := seal.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("encryption_old_keys[%d]: %w", i, err)
		}
		old = append(old, k)
	}
	return seal.New(cur, old...)
}

// wallets is the one registry of known wallets, used for every callback (SEP-6 and SEP-12
// alike), so one wallet's callbacks always go to the same client.
func wallets(clients config.Clients) wallet.Clients {
	out := make(wallet.Clients, 0, len(clients))
	for _, c := range clients {
		out = append(out, wallet.Client{
			Name: c.Name, Type: c.Type, SigningKeys: c.SigningKeys, Domains: c.Domains,
			CallbackURLs: wallet.CallbackURLs{SEP6: c.CallbackURLs.SEP6, SEP12: c.CallbackURLs.SEP12,
				SEP24: c.CallbackURLs.SEP24, SEP31: c.CallbackURLs.SEP31},
		})
	}
	return out
}

// spoolDir is where the travel-rule receiver keeps its spool when travel_rule.spool_dir is
// not set: a directory named after the SQLite file and beside it (vaspgate.db-spool), or
// ./vaspgate-spool on PostgreSQL — never loose files in the working directory.
func spoolDir(databaseURL string) string {
	if p, ok := strings.CutPrefix(databaseURL, "sqlite:"); ok {
		p = strings.TrimPrefix(p, "//")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p + "-spool"
	}
	return "vaspgate-spool"
}

// legacySpool is where versions before the spool got its own directory kept it.
func legacySpool(databaseURL string) string {
	dir := "."
	if p, ok := strings.CutPrefix(databaseURL, "sqlite:"); ok {
		dir = filepath.Dir(strings.TrimPrefix(p, "//"))
	}
	return filepath.Join(dir, "travelrule-spool.log")
}
