package travelrulebench

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/travelrule"
)

// fixtures are the enclave's example bodies, copied byte for byte from
// shared/fixtures/travel-rule (a test keeps them equal), so the shipped binary has them.
//
//go:embed fixtures/*.json
var fixtures embed.FS

// fixtureUUIDs are the verification uuids the fixtures carry; each set of five callbacks is
// rewritten to one fresh uuid.
var fixtureUUIDs = []string{
	"64ab871b-14a3-47df-9b80-368e29fe8180", "64ab871b-14a3-47df-9b80-368e29fe8181",
	"64ab871b-14a3-47df-9b80-368e29fe8182", "69a310e6-810f-4a31-83d1-bcdafccf5304",
}

// Options configure a run.
type Options struct {
	// URL is the callback URL of a running server; empty starts one in process on
	// DatabaseURL.
	URL string
	// Token is the enclave token; Header the header carrying it (empty: Authorization: Bearer).
	Token, Header string
	// AdminURL and AdminToken reach the admin API of a running server to count what was
	// stored; without AdminURL a remote run cannot count losses.
	AdminURL, AdminToken string
	// DatabaseURL is for the in-process server: sqlite:PATH or postgres://… (a fresh
	// schema is made and dropped); empty: a SQLite file in a temporary directory.
	DatabaseURL string
	Requests    int     // callbacks to send, default 10000
	Concurrency int     // requests in flight, default 16
	DupShare    float64 // share of requests that repeat an earlier callback, default 0.2
	Rate        int     // requests per second; 0 sends as fast as the concurrency allows
	Timeout     time.Duration
	// Ceiling starts, instead of the receiver, an in-process endpoint that checks the token,
	// reads and decodes each callback and answers {"result": true} storing nothing: the load
	// tool's and HTTP's own ceiling on this machine, to compare the receiver with.
	Ceiling bool
	// CPUProfile, when set, is the file a CPU profile of the burst is written to: from the
	// first request to the last answer (not set-up, processing after it, or the count).
	CPUProfile string
}

// Result is what a run measured.
type Result struct {
	Engine      string  `json:"engine"`
	Requests    int     `json:"requests"`
	Concurrency int     `json:"concurrency"`
	DupShare    float64 `json:"dup_share"`
	Rate        int     `json:"rate"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	P50Millis   float64 `json:"p50_ms"`
	P99Millis   float64 `json:"p99_ms"`
	MaxMillis   float64 `json:"max_ms"`
	Acked       int     `json:"acked"`
	Failed      int     `json:"failed"`
	// Spooled counts, in process only, the acknowledgements answered from the spool (spilled
	// during a burst, or the database late): durable on the local disk, stored afterwards.
	Spooled int `json:"spooled,omitempty"`
	// Sent counts distinct callbacks acknowledged, SentDuplicates the repeats acknowledged.
	Sent           int `json:"sent_distinct"`
	SentDuplicates int `json:"sent_duplicates"`
	// Stored counts distinct callbacks found stored, Duplicates the repeats the server
	// counted, Lost the acknowledged callbacks not stored (-1: not checked).
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
	Lost       int `json:"lost"`
	// In process only: DrainedSeconds is from the first request until every stored callback
	// was processed into its verification, and CPUMillisPerCallback the process's CPU time
	// (user + system: receiver, processing jobs and the load tool) over that span per
	// acknowledged callback. Less sensitive than throughput to other work on a shared
	// machine; the database server's own CPU is not in it.
	DrainedSeconds       float64 `json:"drained_seconds,omitempty"`
	CPUMillisPerCallback float64 `json:"cpu_ms_per_callback,omitempty"`
	// BurstCPUMillisPerCallback is the process's CPU from the first request to the last
	// answer (the acknowledgements and whatever processing ran beside them) per acknowledged
	// callback. The ceiling's is its load tool and HTTP alone.
	BurstCPUMillisPerCallback float64 `json:"burst_cpu_ms_per_callback,omitempty"`
	// ServerCPUMillisPerCallback and ServerBurstCPUMillisPerCallback are the same for the
	// PostgreSQL server (every process of its cluster, other sessions' work included), when
	// it runs on this machine and its processes can be read.
	ServerCPUMillisPerCallback      float64 `json:"pg_cpu_ms_per_callback,omitempty"`
	ServerBurstCPUMillisPerCallback float64 `json:"pg_burst_cpu_ms_per_callback,omitempty"`
}

type request struct {
	body []byte
	uuid string
	typ  string
	dup  bool
}

// plan makes the requests: sets of the five fixtures, each set about a fresh verification,
// with a share of repeats of earlier callbacks mixed in.
func plan(n int, dupShare float64) ([]request, error) {
	names, err := fixtures.ReadDir("fixtures")
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	var types []string
	for _, e := range names {
		b, err := fixtures.ReadFile(path.Join("fixtures", e.Name()))
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
		types = append(types, travelrule.Decode(b).Type)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var out []request
	var uniq []int
	set, id := len(bodies), ""
	for len(out) < n {
		if len(uniq) > 0 && rng.Float64() < dupShare {
			r := out[uniq[rng.IntN(len(uniq))]]
			r.dup = true
			out = append(out, r)
			continue
		}
		if set == len(bodies) {
			set, id = 0, uuid.NewString()
		}
		b := bodies[set]
		for _, u := range fixtureUUIDs {
			b = bytes.ReplaceAll(b, []byte(u), []byte(id))
		}
		uniq = append(uniq, len(out))
		out = append(out, request{body: b, uuid: id, typ: types[set]})
		set++
	}
	return out, nil
}

// Run sends the requests and measures; see Options.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Requests <= 0 {
		o.Requests = 10000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	res := Result{Engine: "remote", Requests: o.Requests, Concurrency: o.Concurrency, DupShare: o.DupShare, Rate: o.Rate, Lost: -1}
	var local *Server
	if o.Ceiling {
		url, stop, err := startCeiling()
		if err != nil {
			return res, err
		}
		defer stop()
		res.Engine = "none (ceiling)"
		o.Token, o.Header, o.URL, o.AdminURL = localToken, "", url, ""
	}
	if o.URL == "" {
		var cleanup func()
		var err error
		local, cleanup, err = startLocal(ctx, o.DatabaseURL)
		if err != nil {
			return res, err
		}
		defer cleanup()
		res.Engine = local.DB.Dialect().String()
		o.Token, o.Header, o.URL, o.AdminURL = localToken, "", local.URL+CallbackPath, local.URL
	}
	reqs, err := plan(o.Requests, o.DupShare)
	if err != nil {
		return res, err
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConns: o.Concurrency * 2, MaxIdleConnsPerHost: o.Concurrency * 2},
	}
	lat := make([]time.Duration, len(reqs))
	ok := make([]bool, len(reqs))
	next := make(chan int)
	var wg sync.WaitGroup
	stopProfile, err := startProfile(o.CPUProfile)
	if err != nil {
		return res, err
	}
	pgCPU := func() time.Duration { return 0 }
	if local != nil {
		if f := serverCPU(ctx, local.DB); f != nil {
			pgCPU = f
		}
	}
	cpu0, pg0 := cpuTime(), pgCPU()
	start := time.Now()
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if o.Rate > 0 {
					// Open-loop pacing: request i is due at start + i/rate.
					if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(o.Rate))); d > 0 {
						time.Sleep(d)
					}
				}
				t0 := time.Now()
				ok[i] = post(ctx, client, o, reqs[i].body)
				lat[i] = time.Since(t0)
			}
		}()
	}
	deadline := time.After(o.Timeout)
feed:
	for i := range reqs {
		select {
		case next <- i:
		case <-deadline:
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	cpuBurst, pgBurst := cpuTime()-cpu0, pgCPU()-pg0
	if err := stopProfile(); err != nil {
		return res, err
	}

	var acked []time.Duration
	sent := map[string]map[string]int{} // uuid -> type -> duplicates acknowledged
	for i, r := range reqs {
		if !ok[i] {
			if lat[i] > 0 {
				res.Failed++
			}
			continue
		}
		acked = append(acked, lat[i])
		// The first acknowledged copy of a callback is the distinct one, later ones repeats
		// (whichever copy the plan made the original).
		if sent[r.uuid] == nil {
			sent[r.uuid] = map[string]int{}
		}
		if _, seen := sent[r.uuid][r.typ]; seen {
			sent[r.uuid][r.typ]++
			res.SentDuplicates++
		} else {
			sent[r.uuid][r.typ] = 0
			res.Sent++
		}
	}
	res.Acked = len(acked)
	res.PerSecond = float64(res.Acked) / res.Seconds
	res.BurstCPUMillisPerCallback = perCallback(cpuBurst, res.Acked)
	res.ServerBurstCPUMillisPerCallback = perCallback(pgBurst, res.Acked)
	slices.Sort(acked)
	if n := len(acked); n > 0 {
		res.P50Millis = ms(acked[n*50/100])
		res.P99Millis = ms(acked[min(n-1, n*99/100)])
		res.MaxMillis = ms(acked[n-1])
	}
	if o.AdminURL == "" {
		return res, nil
	}
	if local != nil {
		if err := waitSpool(ctx, local.Service, o.Timeout); err != nil {
			return res, err
		}
		if err := waitProcessed(ctx, local.DB, o.Timeout); err != nil {
			return res, err
		}
		res.DrainedSeconds = time.Since(start).Seconds()
		if res.Spooled, err = local.Spooled(); err != nil {
			return res, err
		}
		res.CPUMillisPerCallback = perCallback(cpuTime()-cpu0, res.Acked)
		res.ServerCPUMillisPerCallback = perCallback(pgCPU()-pg0, res.Acked)
	}
	err = count(ctx, client, o, sent, &res)
	return res, err
}

// startProfile starts a CPU profile into file (nothing when file is empty); the function it
// returns stops it and closes the file.
func startProfile(file string) (func() error, error) {
	if file == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("travelrulebench: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("travelrulebench: cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// perCallback is d in milliseconds per one of n callbacks (0 when n is 0).
func perCallback(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return ms(d) / float64(n)
}

func post(ctx context.Context, c *http.Client, o Options, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	if o.Header == "" || strings.EqualFold(o.Header, "Authorization") {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	} else {
		req.Header.Set(o.Header, o.Token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct {
		Result bool `json:"result"`
	}
	return resp.StatusCode == http.StatusOK && json.Unmarshal(b, &v) == nil && v.Result
}

const localToken = "bench-enclave-token"

func startLocal(ctx context.Context, dbURL string) (*Server, func(), error) {
	dir, err := os.MkdirTemp("", "vaspgate-bench-travelrule-")
	if err != nil {
		return nil, nil, err
	}
	dropSchema := func() {}
	switch {
	case dbURL == "":
		dbURL = "sqlite:" + path.Join(dir, "bench.db")
	case strings.HasPrefix(dbURL, "postgres"):
		dbURL, dropSchema, err = store.Scratch(ctx, dbURL)
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
	}
	s, err := StartServer(ctx, ServerOptions{DatabaseURL: dbURL, SpoolDir: path.Join(dir, "spool"), Token: localToken})
	if err != nil {
		dropSchema()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() { s.Close(); dropSchema(); os.RemoveAll(dir) }, nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitProcessed waits until no stored callback is left pending (every one folded into its
// verification).
func waitProcessed(ctx context.Context, db *store.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM travel_rule_pending").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New("travelrulebench: callbacks not processed in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSpool waits until the in-process server's spool is replayed.
func waitSpool(ctx context.Context, svc *travelrule.Service, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for svc.SpoolPending() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New("travelrulebench: spool not replayed in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// count reads every verification back through the admin API and compares with what was
// acknowledged. A remote server may still be replaying its spool, so missing callbacks are
// asked for again until the timeout.
func count(ctx context.Context, c *http.Client, o Options, sent map[string]map[string]int, res *Result) error {
	deadline := time.Now().Add(min(o.Timeout, time.Minute))
	pending := map[string]bool{}
	for u := range sent {
		pending[u] = true
	}
	stored, dups := map[string]int{}, map[string]int{}
	for {
		for u := range pending {
			v, err := fetch(ctx, c, o, u)
			if err != nil {
				return err
			}
			found, d := 0, 0
			for _, cb := range v.Callbacks {
				if _, ok := sent[u][cb.CallbackType]; ok {
					found++
				}
				d += int(cb.Duplicates)
			}
			stored[u], dups[u] = found, d
			want := 0
			for _, n := range sent[u] {
				want += n
			}
			if found == len(sent[u]) && d >= want {
				delete(pending, u)
			}
		}
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.Stored, res.Duplicates, res.Lost = 0, 0, 0
	for u, types := range sent {
		res.Stored += stored[u]
		res.Duplicates += dups[u]
		res.Lost += len(types) - stored[u]
	}
	return nil
}

func fetch(ctx context.Context, c *http.Client, o Options, id string) (travelrule.VerificationView, error) {
	var v travelrule.VerificationView
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(o.AdminURL, "/")+"/admin/v1/travel-rule/verifications/"+id, nil)
	if err != nil {
		return v, err
	}
	if o.AdminToken != "" {
		req.Header.Set("Authorization", "Bearer "+o.AdminToken)
	}
	resp, err := c.Do(req)
	if err != nil {
		return v, fmt.Errorf("travelrulebench: admin API: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return v, json.NewDecoder(resp.Body).Decode(&v)
	case http.StatusNotFound:
		return v, nil
	default:
		return v, fmt.Errorf("travelrulebench: admin API answered %d for a verification", resp.StatusCode)
	}
}

// startCeiling serves an endpoint that acknowledges callbacks without storing them (see
// Options.Ceiling).
func startCeiling() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+localToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_ = travelrule.Decode(b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result": true}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + CallbackPath, func() { _ = srv.Close() }, nil
}
