// Package callbackbench measures the delivery engine end to end, in process (or, with
// Options.InstanceCPU, with its instances as CPU-limited processes of their own): it records N
// events over M subjects (one transaction each, as a business change would) for K loopback
// receivers that verify every signature (Stellar, or Standard Webhooks with
// SignatureStandardWebhooks), optionally fail a share of requests, and reports throughput,
// commit-to-receipt latency and lost, duplicated and out-of-order deliveries. `vaspgate
// bench delivery` runs it. With Options.Peer it measures another delivery service (Hookdeck
// Outpost) with the same producers and receivers instead.
package callbackbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // schema set-up on PostgreSQL

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/callback/callbackhttp"
	"github.com/vaspgate/vaspgate/internal/callback/callbacktest"
	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

// Options configure a run.
type Options struct {
	// DatabaseURL is "sqlite:PATH", a postgres:// URL (a fresh schema is made and dropped),
	// or empty for a SQLite file in a temporary directory.
	DatabaseURL string
	Events      int     // N, default 10000
	Subjects    int     // M, default 100
	Receivers   int     // K, default 4
	FailShare   float64 // share of requests answered 503, default 0
	Rate        int     // events recorded per second; 0 records as fast as possible
	Workers     int     // engine workers, default 64
	Producers   int     // concurrent recording goroutines, default 8 (1 on SQLite in process)
	// Preload records every event before the engine starts, so deliveries/s measures the
	// engine alone (latency then includes the wait for the start). In process the events
	// are recorded preloadBatch per transaction, to set up large backlogs quickly.
	Preload bool
	// ViaHTTP publishes every event through the publish API (POST /admin/v1/messages on a
	// loopback admin listener, behind the admin token) instead of the outbox in process:
	// latency is then from the 202 to the receipt.
	ViaHTTP bool
	// Instances runs this many engines on the database (default 1), each with its own pool:
	// in this process, or as processes of their own with InstanceCPU.
	Instances int
	// InstanceCPU, when above 0, runs every instance as a process of its own (Program's
	// `bench delivery-instance`) limited to this many cores by a control group (package
	// cpucap), as instances on machines or in containers of their own are; the producers,
	// receivers and tracker stay in this process, unlimited. PostgreSQL only.
	InstanceCPU float64
	// Program is the vaspgate binary that runs InstanceCPU's instances.
	Program string
	// PayloadBytes pads each event's payload to this many bytes (0: ~30 bytes, unpadded).
	PayloadBytes int
	// Signature is how vaspgate signs and the receivers verify: SignatureStellar (default:
	// URL destinations, the Stellar `Signature` header, ed25519) or SignatureStandardWebhooks
	// (one configured destination per receiver, callback.destinations, each with its own
	// whsec_ secret: Standard Webhooks v1, HMAC-SHA256; publish API only, so with ViaHTTP).
	// Unused with Peer: the peer signs its own way.
	Signature string
	// Peer, when set, measures another delivery service instead of vaspgate's engine, with
	// the same producers and receivers: PeerOutpost is Hookdeck Outpost's server at PeerURL,
	// authenticated with PeerAPIKey. DatabaseURL, Workers, Instances and Preload are then
	// unused (the peer has its own storage and settings).
	Peer       string
	PeerURL    string
	PeerAPIKey string
	Timeout    time.Duration
}

// Result is what a run measured.
type Result struct {
	Engine    string  `json:"engine"`
	Events    int     `json:"events"`
	Subjects  int     `json:"subjects"`
	Receivers int     `json:"receivers"`
	FailShare float64 `json:"fail_share"`
	Rate      int     `json:"rate"`
	Workers   int     `json:"workers"`
	Preload   bool    `json:"preload"`
	ViaHTTP   bool    `json:"via_http"`
	Instances int     `json:"instances"`
	// InstanceCPU is Options.InstanceCPU; InstanceCPUMillis the CPU the instance processes
	// used over their whole lives per event, and InstanceThrottled the share of their
	// quota periods in which they used the whole quota and waited.
	InstanceCPU       float64 `json:"instance_cpu,omitempty"`
	InstanceCPUMillis float64 `json:"instance_cpu_ms_per_delivery,omitempty"`
	InstanceThrottled float64 `json:"instance_throttled_share,omitempty"`
	PayloadBytes      int     `json:"payload_bytes,omitempty"`
	Signature         string  `json:"signature,omitempty"`
	Peer              string  `json:"peer,omitempty"`
	Seconds           float64 `json:"seconds"`
	PerSecond         float64 `json:"deliveries_per_second"`
	EnqueueRate       float64 `json:"recorded_per_second"`
	P50Millis         float64 `json:"latency_p50_ms"`
	P99Millis         float64 `json:"latency_p99_ms"`
	MaxMillis         float64 `json:"latency_max_ms"`
	Requests          int64   `json:"requests"`
	Failed503         int64   `json:"answered_503"`
	Lost              int     `json:"lost"`
	Duplicated        int     `json:"duplicated"`
	OutOfOrder        int     `json:"out_of_order"`
	BadSignatures     int64   `json:"bad_signatures"`
}

func (o *Options) defaults() {
	if o.Events <= 0 {
		o.Events = 10000
	}
	if o.Subjects <= 0 {
		o.Subjects = 100
	}
	if o.Receivers <= 0 {
		o.Receivers = 4
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.Producers <= 0 {
		o.Producers = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Signature == "" {
		o.Signature = SignatureStellar
	}
}

// Signature schemes of Options.Signature.
const (
	SignatureStellar          = "stellar"
	SignatureStandardWebhooks = "standard-webhooks"
)

const benchSeed = "SCZANGBA5YHTNYVVV4C3U252E2B6P6F5T3U6MM63WBSBZATAQI3EBTQ4"

// Run performs one benchmark.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	switch o.Peer {
	case "":
	case PeerOutpost:
		return runOutpost(ctx, o)
	default:
		return Result{}, fmt.Errorf("bench: unknown peer %q (known: %s)", o.Peer, PeerOutpost)
	}
	switch o.Signature {
	case SignatureStellar:
	case SignatureStandardWebhooks:
		if !o.ViaHTTP {
			return Result{}, fmt.Errorf("bench: signature %s: configured destinations take messages through the publish API: add --via-http", o.Signature)
		}
	default:
		return Result{}, fmt.Errorf("bench: unknown signature %q (known: %s, %s)", o.Signature, SignatureStellar, SignatureStandardWebhooks)
	}
	if o.InstanceCPU > 0 && o.Program == "" {
		return Result{}, errors.New("bench: instances with a CPU limit run as processes: Options.Program names the vaspgate binary")
	}
	dbURL, cleanup, err := store.Scratch(ctx, o.DatabaseURL)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return Result{}, err
	}
	if o.InstanceCPU > 0 && db.Dialect() != store.Postgres {
		return Result{}, errors.New("bench: instances as processes share one database: PostgreSQL only")
	}
	if db.Dialect() == store.SQLite && !o.ViaHTTP {
		// One writer: in process, concurrent producers would only queue for the
		// connection. Over HTTP they are concurrent publishers, which the publish API
		// commits together (its group commit), so they are kept.
		o.Producers = 1
	}
	res := Result{Engine: db.Dialect().String(), Events: o.Events, Subjects: o.Subjects, Receivers: o.Receivers,
		FailShare: o.FailShare, Rate: o.Rate, Workers: o.Workers, Preload: o.Preload, ViaHTTP: o.ViaHTTP, Instances: max(1, o.Instances),
		PayloadBytes: o.PayloadBytes, Signature: o.Signature}

	tr := newTracker(o.Events, o.Subjects)
	rcv, err := listenReceivers(o.Receivers)
	if err != nil {
		return res, err
	}
	defer rcv.close()
	// dests are what each event is published to: the receivers' URLs, or the configured
	// destinations naming them.
	var dests []string
	var destinations []callback.Destination
	if o.Signature == SignatureStandardWebhooks {
		secrets := make(map[string][]string) // receiver host:port → the secret it trusts
		for i, u := range rcv.urls("/sw") {
			secret, _ := callbacktest.NewWebhookSecret()
			id := fmt.Sprintf("bench-%d", i)
			destinations = append(destinations, callback.Destination{ID: id, URL: u, WebhookSecrets: []string{secret}})
			pu, _ := url.Parse(u)
			secrets[pu.Host] = []string{secret}
			dests = append(dests, id)
		}
		rcv.serve(o.FailShare, tr, func(host string, h http.Header, body []byte) bool {
			// As a webhook consumer checks it (callbacktest is written from the
			// specification, not from the signer).
			return callbacktest.VerifyStandardWebhooks(h, body, secrets[host], time.Now()) == nil
		})
	} else {
		signer, _ := callback.NewStellarSigner(benchSeed)
		pub := signer.PublicKey()
		rcv.serve(o.FailShare, tr, func(host string, h http.Header, body []byte) bool {
			// As a wallet checks it (callbacktest is written from the SEPs, not from the signer).
			return callbacktest.VerifyStellar(h.Get("Signature"), host, body, pub, time.Now()) == nil
		})
		dests = rcv.urls("/cb")
	}

	cfg := engineConfig(o.Workers, destinations)
	var (
		eng         *callback.Engine // the outbox every event is recorded through
		startEngine func()           // starts delivering
		procs       *instanceProcs   // the instances, with InstanceCPU
	)
	if o.InstanceCPU > 0 {
		// The events are recorded through an engine of this process that never delivers.
		if eng, err = callback.New(ctx, db, cfg); err != nil {
			return res, err
		}
		if procs, err = startInstances(ctx, o, dbURL, destinations); err != nil {
			return res, err
		}
		defer procs.kill()
		startEngine = procs.run
	} else {
		// Instances beyond the first are further engines in this process, each with its
		// own connection pool and instance name, sharing the database as separate
		// processes would.
		var engines []*callback.Engine
		for i := range max(1, o.Instances) {
			e, closePool, err := deliveryEngine(ctx, db, dbURL, cfg, fmt.Sprintf("bench-%d", i))
			if err != nil {
				return res, err
			}
			defer closePool()
			engines = append(engines, e)
		}
		eng = engines[0]
		runCtx, stop := context.WithCancel(ctx)
		runDone := make(chan error, len(engines))
		started := false
		defer func() {
			stop()
			if started {
				for range engines {
					<-runDone
				}
			}
		}()
		startEngine = func() {
			started = true
			for _, e := range engines {
				go func() { runDone <- e.Run(runCtx) }()
			}
		}
	}
	if !o.Preload {
		startEngine()
	}

	record := func(ctx context.Context, e pending) error {
		return db.InTx(ctx, func(tx *store.Tx) error {
			return eng.Outbox().Wallet(ctx, tx, e.dest, callback.Message{Type: "bench", Subject: e.subject, Body: e.body})
		})
	}
	if o.ViaHTTP {
		publish, closeAPI, err := publishAPI(eng, o.Producers)
		if err != nil {
			return res, err
		}
		defer closeAPI()
		record = publish
	}
	// A preload only sets the table up before the engine starts, so it records up to
	// preloadBatch events per transaction: 500,000 due deliveries take minutes, not an hour.
	batch := 1
	if o.Preload && !o.ViaHTTP {
		batch = preloadBatch
	}
	recordMany := func(ctx context.Context, evs []pending) error {
		if len(evs) == 1 {
			return record(ctx, evs[0])
		}
		return db.InTx(ctx, func(tx *store.Tx) error {
			for _, e := range evs {
				if err := eng.Outbox().Wallet(ctx, tx, e.dest, callback.Message{Type: "bench", Subject: e.subject, Body: e.body}); err != nil {
					return err
				}
			}
			return nil
		})
	}

	start := time.Now()
	if err := produce(ctx, o, tr, dests, batch, recordMany); err != nil {
		return res, err
	}
	recorded := time.Since(start)
	if o.Preload {
		// No ANALYZE here: the scratch table has no planner statistics until autovacuum's
		// first pass (longer than a drain), as a freshly migrated database taking a burst,
		// and the engine's statements plan through the queue's own indexes without them
		// (TestPlansWithoutStatistics, issue 16).
		start = time.Now()
		startEngine()
	}
	tr.wait(ctx, o.Timeout)
	tr.fill(&res, start)
	if procs != nil {
		if err := procs.stop(&res); err != nil {
			return res, err
		}
	}
	res.EnqueueRate = float64(o.Events) / recorded.Seconds()
	res.Requests, res.Failed503, res.BadSignatures = rcv.requests.Load(), rcv.failed.Load(), rcv.badSig.Load()
	return res, nil
}

// engineConfig is the engine's configuration in a run, in this process or in an instance
// process: production's settings (loopback allowed) but for these.
func engineConfig(workers int, destinations []callback.Destination) callback.Options {
	cfg := testkit.CallbackOptions()
	cfg.Workers = workers
	cfg.RetrySchedule = []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}
	// Failures here are injected on purpose; keep the circuit out of the measurement.
	cfg.CircuitThreshold = 1 << 30
	cfg.SigningSeed = benchSeed
	cfg.Destinations = destinations
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg
}

// deliveryEngine is one delivering instance of a run, in this process or in an instance
// process, named name; closePool closes the connections it was given.
func deliveryEngine(ctx context.Context, db *store.DB, dbURL string, cfg callback.Options, name string) (_ *callback.Engine, closePool func(), _ error) {
	opts := []callback.Option{callback.WithMaxInFlightPerEndpoint(cfg.Workers), callback.WithInstance(name)}
	closePool = func() {}
	if db.Dialect() == store.Postgres {
		// As vaspgate serve does: the engine claims and records through its own connections.
		pool, err := store.Open(ctx, dbURL)
		if err != nil {
			return nil, nil, err
		}
		closePool = func() { _ = pool.Close() }
		opts = append(opts, callback.WithPool(pool))
	}
	e, err := callback.New(ctx, db, cfg, opts...)
	if err != nil {
		closePool()
		return nil, nil, err
	}
	return e, closePool, nil
}

// preloadBatch is how many events a preload records per transaction.
const preloadBatch = 200

// benchAdminToken guards the bench's own loopback admin listener.
const benchAdminToken = "bench-admin-token"

// publishAPI serves the publish API on a loopback listener, as vaspgate's admin listener
// does (server.New, the admin token guard, callbackhttp.RegisterPublish), and returns a
// function that publishes one event through it.
func publishAPI(eng *callback.Engine, producers int) (func(context.Context, pending) error, func(), error) {
	srv := server.New(server.Options{AdminToken: benchAdminToken, Logger: slog.New(slog.DiscardHandler)})
	callbackhttp.RegisterPublish(srv.AdminAPI, eng)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	hs := &http.Server{Handler: srv.Admin}
	go func() { _ = hs.Serve(ln) }()
	endpoint := "http://" + ln.Addr().String() + "/admin/v1/messages"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: producers * 2}, Timeout: time.Minute}
	publish := func(ctx context.Context, e pending) error {
		msg, err := json.Marshal(map[string]any{"destination": e.dest, "subject": e.subject, "type": "bench", "payload": json.RawMessage(e.body)})
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(msg))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+benchAdminToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("publish: %s: %s", resp.Status, b)
		}
		return nil
	}
	return publish, func() { _ = hs.Close() }, nil
}
