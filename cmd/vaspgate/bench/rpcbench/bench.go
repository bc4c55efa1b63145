// Package rpcbench measures the business JSON-RPC end to end: notify_customer_info_updated
// calls per second (each a real transaction status change that reads the customer from a
// loopback business server and records the SEP-6 callback, the SEP-12 callback and the
// business events in one database transaction), and the latency from sending the RPC to
// the wallet receiving the signed SEP-6 callback, at a fixed offered rate. It backs
// `vaspgate bench rpc`.
package rpcbench

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the schema set-up
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/rpc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// Options configure a run.
type Options struct {
	// DatabaseURL is sqlite:PATH or postgres://… (a fresh schema is made and dropped);
	// empty means a temporary SQLite file.
	DatabaseURL string
	// Transactions is how many transactions the calls spread over. Default 2000.
	Transactions int
	// Concurrency is the number of business clients calling at once in the throughput
	// phase. Default 32.
	Concurrency int
	// Duration of each phase. Default 10s.
	Duration time.Duration
	// Rate is the offered rate (calls/s) of the latency phase. Default 200.
	Rate int
	// Workers are the callback engine's workers. Default 64.
	Workers int
	// Method is "customer" (default): notify_customer_info_updated, reading the customer
	// from the business server and recording its snapshot each time; or "hold": alternately
	// notify_transaction_on_hold and notify_offchain_funds_received, status changes with no
	// customer read; or "sep31": notify_customer_info_updated on SEP-31 receive
	// transactions (pending_receiver <-> pending_customer_info_update, the receiver read
	// each time), whose callbacks go to the sending anchor's registered URL.
	Method string
	// Isolated starts the callback engine only after the throughput phase, which then
	// measures the RPC path alone (its deliveries are sent afterwards).
	Isolated bool
}

// Result is what a run measured.
type Result struct {
	Engine       string  `json:"engine"`
	Isolated     bool    `json:"isolated"`
	Method       string  `json:"method"`
	Transactions int     `json:"transactions"`
	Concurrency  int     `json:"concurrency"`
	Seconds      float64 `json:"seconds"`
	// Calls and PerSecond: successful status-changing calls in the throughput phase.
	Calls     int     `json:"calls"`
	PerSecond float64 `json:"per_second"`
	Errors    int     `json:"errors"`
	// RPCP50/99Millis: call latency (request to answer) in the throughput phase.
	RPCP50Millis float64 `json:"rpc_p50_ms"`
	RPCP99Millis float64 `json:"rpc_p99_ms"`
	// Rate and the callback latencies of the latency phase: RPC sent to SEP-6 callback received.
	Rate               int     `json:"rate"`
	RateCalls          int     `json:"rate_calls"`
	CallbackP50Millis  float64 `json:"callback_p50_ms"`
	CallbackP99Millis  float64 `json:"callback_p99_ms"`
	CallbackMaxMillis  float64 `json:"callback_max_ms"`
	CallbacksMissing   int     `json:"callbacks_missing"`
	RateRPCP99Millis   float64 `json:"rate_rpc_p99_ms"`
	AchievedRatePerSec float64 `json:"achieved_rate"`
}

func (o *Options) defaults() {
	if o.Transactions <= 0 {
		o.Transactions = 2000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.Method == "" {
		o.Method = "customer"
	}
}

// business is the loopback business server: GET /customer flips each customer between
// NEEDS_INFO and PROCESSING on every read, so every notify call is a status change;
// POST /event accepts events.
type business struct {
	mu    sync.Mutex
	flips map[string]int
}

func (b *business) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		return
	}
	id := r.URL.Query().Get("id")
	if id == "" {
		id = "c-" + r.URL.Query().Get("transaction_id")
	}
	b.mu.Lock()
	n := b.flips[id]
	b.flips[id] = n + 1
	b.mu.Unlock()
	status := kyc.StatusNeedsInfo
	if n%2 == 1 {
		status = kyc.StatusProcessing
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q,"status":%q}`, id, status)
}

// walletSink records when each (transaction, status) callback arrives.
type walletSink struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (wl *walletSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	if strings.HasSuffix(r.URL.Path, "/sep6") || strings.HasSuffix(r.URL.Path, "/sep31") {
		var b struct {
			Transaction struct {
				ID        string `json:"id"`
				UpdatedAt string `json:"updated_at"`
			} `json:"transaction"`
		}
		if json.Unmarshal(body, &b) == nil {
			wl.mu.Lock()
			key := b.Transaction.ID + "#" + b.Transaction.UpdatedAt
			if _, dup := wl.seen[key]; !dup {
				wl.seen[key] = now
			}
			wl.mu.Unlock()
		}
	}
	w.WriteHeader(http.StatusOK)
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// Run performs both phases.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	db, cleanup, err := store.OpenScratch(ctx, o.DatabaseURL)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	if o.Method != "customer" && o.Method != "hold" && o.Method != "sep31" {
		return Result{}, fmt.Errorf("bench rpc: method %q, want customer, hold or sep31", o.Method)
	}
	res := Result{Engine: db.Dialect().String(), Isolated: o.Isolated, Method: o.Method, Transactions: o.Transactions, Concurrency: o.Concurrency, Rate: o.Rate}

	biz := &business{flips: map[string]int{}}
	bizURL, stopBiz, err := serve(biz)
	if err != nil {
		return res, err
	}
	defer stopBiz()
	wl := &walletSink{seen: map[string]time.Time{}}
	walletURL, stopWallet, err := serve(wl)
	if err != nil {
		return res, err
	}
	defer stopWallet()

	signer, _ := keypair.Random()
	user, _ := keypair.Random()
	clients := wallet.Clients{{Name: "bench", Type: wallet.Custodial, SigningKeys: []string{user.Address()},
		CallbackURLs: wallet.CallbackURLs{SEP6: walletURL + "/sep6", SEP12: walletURL + "/sep12"}}}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	co := testkit.CallbackOptions() // production's settings, loopback allowed
	if o.Workers > 0 {
		co.Workers = o.Workers
	}
	co.Business = testkit.BusinessEvents(bizURL + "/event")
	co.SigningSeed, co.Logger = signer.Seed(), slog.New(slog.DiscardHandler)
	eng, err := callback.New(runCtx, db, co)
	if err != nil {
		return res, err
	}
	tr := transfer.New(transfer.Options{DB: db, Outbox: eng.Outbox(), Clients: clients})
	key := make([]byte, seal.KeySize)
	_, _ = crand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		return res, err
	}
	k, err := kyc.New(testkit.KYCOptions(kyc.Options{Backend: kyc.Business, Business: kyc.BusinessServer{BaseURL: bizURL},
		Clients: clients, DB: db, Sealer: sealer, Outbox: eng.Outbox(), Transactions: tr, Logger: slog.New(slog.DiscardHandler)}))
	if err != nil {
		return res, err
	}
	srv, err := rpc.New(rpc.Options{BatchSizeLimit: 40, Transfers: tr, Customers: k, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, err
	}
	rpcURL, stopRPC, err := serve(srv)
	if err != nil {
		return res, err
	}
	defer stopRPC()
	engDone := make(chan struct{})
	startEngine := func() {
		go func() {
			defer close(engDone)
			_ = eng.Run(runCtx)
		}()
	}
	defer func() { stop(); <-engDone }()
	if !o.Isolated {
		startEngine()
	}

	// Transactions waiting on KYC, each with its own customer, which the wallet has read once
	// (SEP-12 GET /customer?transaction_id=), so that its status changes reach the wallet too.
	ids := make([]string, o.Transactions)
	for i := range ids {
		t := transfer.Transaction{Kind: transfer.KindDeposit, Status: transfer.StatusIncomplete,
			Owner: wallet.Identity{Account: user.Address()}, AssetCode: "USDC", Account: user.Address(), CustomerType: "sep6"}
		if o.Method == "hold" {
			// A withdrawal alternates between on_hold and pending_anchor (Anchor Platform's
			// rows: on_hold from pending_anchor for withdrawals only).
			t.Kind, t.Status = transfer.KindWithdrawal, transfer.StatusPendingAnchor
			t.AmountIn = &transfer.Amount{Amount: "100", Asset: "iso4217:USD"}
			t.AmountOut = &transfer.Amount{Amount: "99", Asset: "stellar:USDC"}
			t.FeeDetails = &transfer.FeeDetails{Total: "1", Asset: "iso4217:USD"}
		}
		if o.Method == "sep31" {
			// Paid by the sending anchor (funds received), its receiver's KYC flipping.
			now := time.Now()
			t.Kind, t.Status, t.CustomerType = transfer.KindReceive, transfer.StatusPendingReceiver, ""
			t.TransferReceivedAt = &now
			t.SenderID, t.ReceiverID = "s-"+strconv.Itoa(i), "c-pending"
			t.AmountIn = &transfer.Amount{Amount: "100", Asset: "stellar:USDC"}
			t.OnChangeCallback = walletURL + "/sep31"
		}
		if err := tr.Create(ctx, &t); err != nil {
			return res, err
		}
		ids[i] = t.ID
		if o.Method == "hold" || o.Method == "sep31" {
			continue
		}
		if _, err := k.Get(ctx, wallet.Identity{Account: user.Address()}, kyc.Query{TransactionID: t.ID, Type: "sep6"}); err != nil {
			return res, fmt.Errorf("bench rpc: wallet reads customer: %w", err)
		}
		ids[i] = t.ID
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency * 2}}
	// call makes one status change and returns the transaction's new updated_at, which the
	// wallet's callback carries too.
	var holdMu sync.Mutex
	held := map[string]bool{}
	call := func(id string) (string, error) {
		method := "notify_customer_info_updated"
		if o.Method == "hold" {
			// Each transaction is called by one goroutine at a time, so its state is known.
			holdMu.Lock()
			method = "notify_transaction_on_hold"
			if held[id] {
				method = "notify_onchain_funds_received"
			}
			held[id] = !held[id]
			holdMu.Unlock()
		}
		typ := ""
		if o.Method == "sep31" {
			typ = "sep31-receiver"
		}
		body := fmt.Sprintf(`[{"jsonrpc":"2.0","id":1,"method":%q,"params":{"transaction_id":%q,"customer_id":"c-%s","customer_type":%q,"stellar_transaction_id":"b9d0b2292c4e09e8eb22d036171491e87b8d2086bf8b265874c8d182cb9c9020"}}]`, method, id, id, typ)
		resp, err := client.Post(rpcURL, "application/json", strings.NewReader(body))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var out []struct {
			Result *struct {
				UpdatedAt string `json:"updated_at"`
			} `json:"result"`
			Error *rpc.Error `json:"error"`
		}
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil || len(out) != 1 {
			return "", fmt.Errorf("answer %s", b)
		}
		if out[0].Error != nil {
			return "", out[0].Error
		}
		return out[0].Result.UpdatedAt, nil
	}

	// Phase 1: throughput. Each client owns a disjoint slice of transactions.
	var calls, errs atomic.Int64
	var lmu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(o.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for c := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := c; time.Now().Before(deadline) && ctx.Err() == nil; i += o.Concurrency {
				id := ids[i%len(ids)]
				t0 := time.Now()
				if _, err := call(id); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
				calls.Add(1)
			}
			lmu.Lock()
			lat = append(lat, mine...)
			lmu.Unlock()
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Calls, res.Errors = int(calls.Load()), int(errs.Load())
	res.PerSecond = float64(res.Calls) / res.Seconds
	res.RPCP50Millis, res.RPCP99Millis, _ = percentiles(lat)
	if res.Calls == 0 {
		return res, fmt.Errorf("bench rpc: no call succeeded: %v", firstErr.Load())
	}

	if o.Isolated {
		startEngine()
	}
	// Let the engine catch up with the backlog of phase 1 before measuring latency.
	if err := waitDrained(ctx, db, 5*time.Minute); err != nil {
		return res, err
	}

	// Phase 2: a fixed offered rate; every call's callback latency.
	type sent struct {
		key string
		at  time.Time
	}
	var smu sync.Mutex
	var sends []sent
	var rpcLat []time.Duration
	interval := time.Second / time.Duration(o.Rate)
	n := int(o.Duration.Seconds() * float64(o.Rate))
	tick := time.NewTicker(interval)
	start = time.Now()
	var pwg sync.WaitGroup
	for i := 0; i < n && ctx.Err() == nil; i++ {
		<-tick.C
		id := ids[i%len(ids)]
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			t0 := time.Now()
			st, err := call(id)
			if err != nil {
				errs.Add(1)
				return
			}
			d := time.Since(t0)
			smu.Lock()
			sends = append(sends, sent{id + "#" + st, t0})
			rpcLat = append(rpcLat, d)
			smu.Unlock()
		}()
	}
	tick.Stop()
	pwg.Wait()
	res.AchievedRatePerSec = float64(len(sends)) / time.Since(start).Seconds()
	res.RateCalls = len(sends)
	_, res.RateRPCP99Millis, _ = percentiles(rpcLat)
	// Wait for every callback (bounded).
	waitUntil := time.Now().Add(30 * time.Second)
	var cbLat []time.Duration
	for {
		cbLat, res.CallbacksMissing = cbLat[:0], 0
		wl.mu.Lock()
		for _, s := range sends {
			if at, ok := wl.seen[s.key]; ok {
				cbLat = append(cbLat, at.Sub(s.at))
			} else {
				res.CallbacksMissing++
			}
		}
		wl.mu.Unlock()
		if res.CallbacksMissing == 0 || time.Now().After(waitUntil) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.CallbackP50Millis, res.CallbackP99Millis, res.CallbackMaxMillis = percentiles(cbLat)
	return res, nil
}

// waitDrained waits until no wallet or business delivery is pending.
func waitDrained(ctx context.Context, db *store.DB, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM callback_deliveries WHERE status = 'pending'").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("bench rpc: deliveries did not drain")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func percentiles(d []time.Duration) (p50, p99, maxv float64) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return ms(s[len(s)*50/100]), ms(s[min(len(s)-1, len(s)*99/100)]), ms(s[len(s)-1])
}
