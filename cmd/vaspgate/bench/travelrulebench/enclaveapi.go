package travelrulebench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/enclavesim"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// APIOptions configure a run of the enclave-facing APIs (vaspgate as the beneficiary VASP).
type APIOptions struct {
	// DatabaseURL: sqlite:PATH or postgres://… (a fresh schema, dropped afterwards); empty: a
	// temporary SQLite file.
	DatabaseURL string
	// Customers are the builtin SEP-12 customers made first (accepted, sealed fields). Default 1000.
	Customers int
	// Cold leaves the database pool to open its connections on demand (as before
	// store.KeepWarm), to measure what warming changes.
	Cold bool
	// Requests per API. Default 5000.
	Requests int
	// Concurrency is the number of enclave requests in flight. Default 32.
	Concurrency int
}

// APIResult is the latency of one API at the run's concurrency.
type APIResult struct {
	API         string  `json:"api"`
	Requests    int     `json:"requests"`
	Concurrency int     `json:"concurrency"`
	PerSecond   float64 `json:"per_second"`
	P50Millis   float64 `json:"p50_ms"`
	P99Millis   float64 `json:"p99_ms"`
	MaxMillis   float64 `json:"max_ms"`
	// FirstBurstMaxMillis is the slowest of the first Concurrency requests: what a burst
	// arriving on an idle service waits (a cold database pool shows here).
	FirstBurstMaxMillis float64 `json:"first_burst_max_ms"`
	// Verified and Denied count the answers; Fallbacks the DENIED UNDEFINED-ERROR answers
	// (the decision outlived its budget or failed); Failed the requests not answered 200.
	Verified  int `json:"verified"`
	Denied    int `json:"denied"`
	Fallbacks int `json:"fallbacks"`
	Failed    int `json:"failed"`
	// LimitMillis is the enclave's limit for the API (1 s, 5 s).
	LimitMillis float64 `json:"limit_ms"`
}

// RunAPI measures Verify User Account and Verify User as the enclave calls them: a real
// database with builtin SEP-12 customers (sealed fields, ACCEPTED), the real responder (name
// matching, deny list, every call recorded and sealed in travel_rule_calls), over HTTP on
// loopback with the enclave token, Concurrency requests in flight. A quarter of the requests
// name an address no customer has (DENIED UNKNOWN-ADDRESS), the rest a customer with a
// matching name (VERIFIED).
func RunAPI(ctx context.Context, o APIOptions) (engine string, out []APIResult, err error) {
	if o.Customers <= 0 {
		o.Customers = 1000
	}
	if o.Requests <= 0 {
		o.Requests = 5000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	dir, err := os.MkdirTemp("", "vaspgate-bench-enclave-api-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	dbURL := o.DatabaseURL
	switch {
	case dbURL == "":
		dbURL = "sqlite:" + path.Join(dir, "bench.db")
	case strings.HasPrefix(dbURL, "postgres"):
		var drop func()
		if dbURL, drop, err = store.Scratch(ctx, dbURL); err != nil {
			return "", nil, err
		}
		defer drop()
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return "", nil, err
	}
	if !o.Cold {
		// As app does at start: the pool's connections are open before the first request.
		if err := db.KeepWarm(ctx, 32); err != nil {
			return "", nil, err
		}
	}
	engine = db.Dialect().String()
	keys, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		return engine, nil, err
	}
	log := slog.New(slog.DiscardHandler)
	k, err := kyc.New(testkit.KYCOptions(kyc.Options{DB: db, Sealer: keys, Outbox: noOutbox{}, Logger: log}))
	if err != nil {
		return engine, nil, err
	}
	accounts := make([]string, o.Customers)
	for i := range accounts {
		accounts[i] = keypair.MustRandom().Address()
		id, err := k.Put(ctx, wallet.Identity{Account: accounts[i]}, kyc.PutRequest{Type: "sep6", Fields: map[string]string{
			"first_name": "Taylor", "last_name": fmt.Sprintf("Robbins%d", i), "email_address": "t@example.com"}})
		if err != nil {
			return engine, nil, fmt.Errorf("travelrulebench: customer: %w", err)
		}
		if _, err := k.Decide(ctx, id, kyc.Decision{Status: kyc.StatusAccepted}); err != nil {
			return engine, nil, fmt.Errorf("travelrulebench: accept customer: %w", err)
		}
	}
	jobs := job.New(db, job.Options{Logger: log})
	svc, err := travelrule.New(db, jobs, testkit.TravelRuleOptions(travelrule.Options{Sealer: keys, SpoolDir: path.Join(dir, "spool"), Logger: log}))
	if err != nil {
		return engine, nil, err
	}
	r := svc.Responder(travelrule.ResponderOptions{Directory: directory{k}, Matcher: travelrule.NameMatcher{Threshold: 0.9},
		DenyNames: []string{"Bad Actor"}})
	mux := http.NewServeMux()
	paths := travelrulehttp.APIPaths{Account: "/travel-rule/verify-user-account", User: "/travel-rule/verify-user",
		Transaction: "/travel-rule/transaction-status"}
	if err := travelrulehttp.RegisterEnclaveAPI(mux, r, testkit.EnclaveConfig(travelrulehttp.CallbackConfig{Tokens: []string{localToken}, Logger: log}), paths); err != nil {
		return engine, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return engine, nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	caller := enclavesim.Caller{Base: "http://" + ln.Addr().String(), Token: localToken,
		Client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency * 2}}}

	body := func(api string, i int) any {
		addr, n := accounts[i%len(accounts)], i%len(accounts)
		if i%4 == 3 {
			addr = keypair.MustRandom().Address() // no customer: UNKNOWN-ADDRESS
		}
		ben := []enclavesim.Name{{Primary: fmt.Sprintf("Robbins%d", n), Secondary: "Taylor"}}
		if api == "verify_user_account" {
			return enclavesim.AccountBody("USDC", addr, ben...)
		}
		return enclavesim.UserRequest{VerificationUUID: uuid.NewString(), Symbol: "USDC", Amount: "1500", Exceeding: true,
			Required: "NATURAL_PERSON_NAME,ACCOUNT_NUMBER", Originator: enclavesim.Name{Primary: "Din", Secondary: "James"},
			OriginatorAcct: "GORIGINATOR", Beneficiary: ben, Address: addr}.Body()
	}
	for _, api := range []struct {
		name, path string
		limit      float64
	}{{"verify_user_account", paths.Account, 1000}, {"verify_user", paths.User, 5000}} {
		res, err := drive(ctx, caller, api.path, o, func(i int) any { return body(api.name, i) })
		if err != nil {
			return engine, out, err
		}
		res.API, res.LimitMillis = api.name, api.limit
		out = append(out, res)
	}
	return engine, out, nil
}

// noOutbox drops the callbacks of setting up the customers (no wallet nor business
// listens; they are not what is measured).
type noOutbox struct{}

func (noOutbox) Wallet(context.Context, *store.Tx, string, callback.Message) error { return nil }
func (noOutbox) Business(context.Context, *store.Tx, callback.Message) error       { return nil }

// directory finds builtin customers by their account, as the app's does.
type directory struct{ k *kyc.Service }

func (d directory) Lookup(ctx context.Context, account, memo string) (travelrule.Customer, error) {
	p, err := d.k.ProfileByOwner(ctx, account, memo, "")
	if errors.Is(err, kyc.ErrNotFound) {
		return travelrule.Customer{}, travelrule.ErrNotFound
	}
	if err != nil {
		return travelrule.Customer{}, err
	}
	return travelrule.Customer{ID: p.ID, KYCStatus: p.Status, Fields: p.Fields}, nil
}

func drive(ctx context.Context, c enclavesim.Caller, p string, o APIOptions, body func(int) any) (APIResult, error) {
	res := APIResult{Requests: o.Requests, Concurrency: o.Concurrency}
	lat := make([]time.Duration, o.Requests)
	answers := make([]map[string]any, o.Requests)
	status := make([]int, o.Requests)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, err := c.Post(ctx, p, body(i))
				if err == nil {
					lat[i], status[i], answers[i] = r.Elapsed, r.Status, r.JSON()
				}
			}
		}()
	}
	for i := range o.Requests {
		next <- i
	}
	close(next)
	wg.Wait()
	secs := time.Since(start).Seconds()
	var ok []time.Duration
	for i := range o.Requests {
		if status[i] != http.StatusOK {
			res.Failed++
			continue
		}
		ok = append(ok, lat[i])
		switch {
		case answers[i]["reason"] == travelrule.ReasonUndefinedError:
			res.Fallbacks++
		case answers[i]["result"] == travelrule.ResultVerified:
			res.Verified++
		default:
			res.Denied++
		}
	}
	res.PerSecond = float64(len(ok)) / secs
	for i := range min(o.Concurrency, o.Requests) {
		res.FirstBurstMaxMillis = max(res.FirstBurstMaxMillis, ms(lat[i]))
	}
	slices.Sort(ok)
	if n := len(ok); n > 0 {
		res.P50Millis, res.P99Millis, res.MaxMillis = ms(ok[n*50/100]), ms(ok[min(n-1, n*99/100)]), ms(ok[n-1])
	}
	return res, nil
}
