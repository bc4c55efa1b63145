package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/observer"
	"github.com/vaspgate/vaspgate/internal/observer/horizonsim"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// benchObserverCmd runs `vaspgate bench observer …`; args are what follows "observer".
func benchObserverCmd(args []string) error {
	return runBenchObserver(context.Background(), args, os.Stdout)
}

// observerResult is what `vaspgate bench observer` measures.
type observerResult struct {
	Engine string `json:"engine"`
	CPUs   int    `json:"cpus"`
	// Backlog: N payments already on the ledger when the observer starts (a restart after
	// downtime): matched per second until the last is committed.
	Backlog        int     `json:"backlog"`
	BacklogSeconds float64 `json:"backlog_seconds"`
	BacklogPerSec  float64 `json:"backlog_matched_per_second"`
	// Live: payments closed one ledger each at Rate per second while the observer runs;
	// the delay from the simulated ledger close to the committed change.
	Live       int     `json:"live"`
	Rate       int     `json:"rate"`
	LiveP50Ms  float64 `json:"live_delay_p50_ms"`
	LiveP99Ms  float64 `json:"live_delay_p99_ms"`
	LiveMaxMs  float64 `json:"live_delay_max_ms"`
	Unmatched  int     `json:"unmatched"`
	Duplicates int     `json:"duplicates"`
}

func runBenchObserver(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench observer", flag.ContinueOnError)
	fs.SetOutput(out)
	dbURL := fs.String("database-url", "", "sqlite:PATH or postgres://… (a fresh schema is made and dropped); empty: a temporary SQLite file")
	n := fs.Int("n", 1000, "payments waiting on the ledger when the observer starts (backlog)")
	live := fs.Int("live", 200, "payments made while the observer runs")
	rate := fs.Int("rate", 20, "live payments per second (one ledger each)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, drop, err := store.OpenScratch(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer drop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The events and callbacks are recorded as in production (the engine is not run: the
	// measure is the observer's commit, not delivery).
	co := testkit.CallbackOptions() // production's settings
	co.Business = testkit.BusinessEvents("http://127.0.0.1:9/events")
	co.SigningSeed, co.Logger = keypair.MustRandom().Seed(), slog.New(slog.DiscardHandler)
	eng, err := callback.New(ctx, db, co)
	if err != nil {
		return err
	}
	transfers := transfer.New(transfer.Options{DB: db, Outbox: eng.Outbox(), Clients: wallet.Clients{}})
	sim := horizonsim.New()
	defer sim.Close()
	dist, issuer := keypair.MustRandom(), keypair.MustRandom().Address()
	usdc := txnbuild.CreditAsset{Code: "USDC", Issuer: issuer}
	asset := "stellar:USDC:" + issuer
	user := keypair.MustRandom()

	total := *n + *live
	for i := range total {
		t := transfer.Transaction{Kind: transfer.KindWithdrawal, Status: transfer.StatusPendingUserTransferStart,
			Owner: wallet.Identity{Account: user.Address()}, AssetCode: "USDC", AssetIssuer: issuer, Account: user.Address(),
			WithdrawAnchorAccount: dist.Address(), WithdrawMemo: strconv.Itoa(100000 + i), WithdrawMemoType: "id",
			AmountIn: &transfer.Amount{Amount: "10", Asset: asset}, AmountExpected: &transfer.Amount{Amount: "10", Asset: asset}}
		if err := transfers.Create(ctx, &t); err != nil {
			return err
		}
	}
	pay := func(i int) (horizonsim.Submitted, error) {
		return sim.Submit(horizonsim.Payment{From: user, To: dist.Address(), Asset: usdc, Amount: "10", Memo: txnbuild.MemoID(uint64(100000 + i))})
	}
	for i := range *n {
		if _, err := pay(i); err != nil {
			return err
		}
	}

	var (
		mu        sync.Mutex
		committed = map[string]time.Time{}
		res       = observerResult{Engine: db.Dialect().String(), CPUs: runtime.NumCPU(), Backlog: *n, Live: *live, Rate: *rate}
		done      = make(chan struct{}, total+16)
	)
	h, err := stellar.NewHorizon(sim.URL(), nil, 0)
	if err != nil {
		return err
	}
	o, err := observer.New(observer.Options{DB: db, Horizon: h, Accounts: []string{dist.Address()}, Transfers: transfers,
		Events: eng.Outbox(), StartCursor: "0", Committed: func(out observer.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case out.Duplicate:
				res.Duplicates++
			case out.Status == observer.StatusUnmatched:
				res.Unmatched++
			}
			committed[out.Operation] = time.Now()
			done <- struct{}{}
		}})
	if err != nil {
		return err
	}
	start := time.Now()
	runDone := make(chan error, 1)
	go func() { runDone <- o.Run(ctx) }()
	waitFor := func(k int) error {
		deadline := time.After(10 * time.Minute)
		for {
			mu.Lock()
			got := len(committed)
			mu.Unlock()
			if got >= k {
				return nil
			}
			select {
			case <-done:
			case <-deadline:
				return fmt.Errorf("bench observer: %d of %d payments committed after 10 minutes", got, k)
			}
		}
	}
	if err := waitFor(*n); err != nil {
		return err
	}
	res.BacklogSeconds = time.Since(start).Seconds()
	res.BacklogPerSec = float64(*n) / res.BacklogSeconds

	closedAt := map[string]time.Time{}
	tick := time.NewTicker(time.Second / time.Duration(max(*rate, 1)))
	for i := *n; i < total; i++ {
		<-tick.C
		sub, err := pay(i)
		if err != nil {
			return err
		}
		closedAt[sub.OperationID] = time.Now() // the simulated ledger closed just now
	}
	tick.Stop()
	if err := waitFor(total); err != nil {
		return err
	}
	cancel()
	<-runDone
	var delays []float64
	mu.Lock()
	for id, at := range closedAt {
		delays = append(delays, float64(committed[id].Sub(at).Microseconds())/1000)
	}
	mu.Unlock()
	slices.Sort(delays)
	if len(delays) > 0 {
		res.LiveP50Ms = delays[len(delays)/2]
		res.LiveP99Ms = delays[min(len(delays)-1, len(delays)*99/100)]
		res.LiveMaxMs = delays[len(delays)-1]
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(res)
	}
	fmt.Fprintf(out, "engine %s, %d CPUs\n", res.Engine, res.CPUs)
	fmt.Fprintf(out, "backlog: %d payments matched in %.2fs = %.0f/s\n", res.Backlog, res.BacklogSeconds, res.BacklogPerSec)
	fmt.Fprintf(out, "live: %d payments at %d/s, ledger close → committed p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		res.Live, res.Rate, res.LiveP50Ms, res.LiveP99Ms, res.LiveMaxMs)
	fmt.Fprintf(out, "unmatched %d, duplicates %d\n", res.Unmatched, res.Duplicates)
	return nil
}
