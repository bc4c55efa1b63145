package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/vaspgate/vaspgate/cmd/vaspgate/bench/travelrulebench"
)

// benchTravelRuleCmd runs `vaspgate bench travelrule …`; args are what follows "travelrule".
func benchTravelRuleCmd(args []string) error {
	return runBenchTravelRule(context.Background(), args, os.Stdout)
}

func runBenchTravelRule(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench travelrule", flag.ContinueOnError)
	fs.SetOutput(out)
	var o travelrulebench.Options
	fs.StringVar(&o.URL, "url", "", "callback URL of a running server (e.g. http://127.0.0.1:8001/travel-rule/callback); empty: start one in process")
	fs.StringVar(&o.Token, "token", os.Getenv("VEGA_VERIFICATION_AUTHORIZATION_TOKEN"), "enclave token for --url (default $VEGA_VERIFICATION_AUTHORIZATION_TOKEN)")
	fs.StringVar(&o.Header, "header", os.Getenv("VEGA_VERIFICATION_AUTHORIZATION_KEY"), "header carrying the token (default Authorization: Bearer)")
	fs.StringVar(&o.AdminURL, "admin-url", "", "admin listener of the running server (e.g. http://127.0.0.1:8001), to count stored and lost callbacks")
	fs.StringVar(&o.AdminToken, "admin-token", os.Getenv("VASPGATE_ADMIN_TOKEN"), "admin bearer token for --admin-url")
	fs.StringVar(&o.DatabaseURL, "database-url", "", "in-process server: sqlite:PATH or postgres://… (a fresh schema is made and dropped); empty: a temporary SQLite file")
	fs.IntVar(&o.Requests, "n", 10000, "callbacks to send")
	fs.IntVar(&o.Concurrency, "c", 16, "requests in flight")
	fs.Float64Var(&o.DupShare, "dup", 0.2, "share of requests that repeat an earlier callback (0-1)")
	fs.IntVar(&o.Rate, "rate", 0, "requests per second (0: as fast as the concurrency allows)")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up after this long")
	fs.BoolVar(&o.Ceiling, "ceiling", false, "acknowledge without storing (an in-process endpoint that only reads and decodes): the load tool's ceiling on this machine")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the burst (first request to last answer) to this file")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	api := fs.Bool("api", false, "measure the enclave's calls to vaspgate (Verify User Account, Verify User) instead of callbacks; uses -database-url, -n (per API), -c and -customers")
	customers := fs.Int("customers", 1000, "with -api: builtin SEP-12 customers to make first")
	cold := fs.Bool("cold", false, "with -api: leave the database pool cold (connections opened on demand, as before the pool was kept warm)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *api {
		return runBenchEnclaveAPI(ctx, travelrulebench.APIOptions{DatabaseURL: o.DatabaseURL, Customers: *customers, Cold: *cold,
			Requests: o.Requests, Concurrency: o.Concurrency}, *asJSON, out)
	}
	r, err := travelrulebench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(out).Encode(r); err != nil {
			return err
		}
	} else {
		rate := "as fast as possible"
		if r.Rate > 0 {
			rate = fmt.Sprintf("%d/s", r.Rate)
		}
		fmt.Fprintf(out, "engine %s, %d CPUs, %d callbacks (%.0f%% repeats), concurrency %d, offered %s\n",
			r.Engine, runtime.NumCPU(), r.Requests, r.DupShare*100, r.Concurrency, rate)
		fmt.Fprintf(out, "throughput     %.0f acknowledged callbacks/s (%.2f s)\n", r.PerSecond, r.Seconds)
		fmt.Fprintf(out, "ack latency    p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.P50Millis, r.P99Millis, r.MaxMillis)
		fmt.Fprintf(out, "acknowledged   %d (%d distinct, %d repeats), failed %d", r.Acked, r.Sent, r.SentDuplicates, r.Failed)
		if r.Spooled > 0 {
			fmt.Fprintf(out, ", %d from the spool", r.Spooled)
		}
		fmt.Fprintln(out)
		fmt.Fprintf(out, "burst CPU      process %.3f ms per callback", r.BurstCPUMillisPerCallback)
		if r.ServerBurstCPUMillisPerCallback > 0 {
			fmt.Fprintf(out, ", PostgreSQL %.3f ms", r.ServerBurstCPUMillisPerCallback)
		}
		fmt.Fprintln(out)
		if r.DrainedSeconds > 0 {
			fmt.Fprintf(out, "processed      all after %.2f s (%.0f callbacks/s sustained); process CPU %.3f ms per callback (receiver, processing, load tool)",
				r.DrainedSeconds, float64(r.Acked)/r.DrainedSeconds, r.CPUMillisPerCallback)
			if r.ServerCPUMillisPerCallback > 0 {
				fmt.Fprintf(out, ", PostgreSQL %.3f ms", r.ServerCPUMillisPerCallback)
			}
			fmt.Fprintln(out)
		}
		if r.Lost < 0 {
			fmt.Fprintln(out, "stored         not checked (give --admin-url)")
		} else {
			fmt.Fprintf(out, "stored %d, duplicates %d, lost %d\n", r.Stored, r.Duplicates, r.Lost)
		}
	}
	if r.Lost > 0 || r.Failed > 0 {
		return fmt.Errorf("bench travelrule: %d lost, %d failed", r.Lost, r.Failed)
	}
	return nil
}

// runBenchEnclaveAPI prints the latency of Verify User Account and Verify User and fails when
// the p99 of either is over the enclave's limit or an answer was the timeout fallback.
func runBenchEnclaveAPI(ctx context.Context, o travelrulebench.APIOptions, asJSON bool, out io.Writer) error {
	engine, res, err := travelrulebench.RunAPI(ctx, o)
	if err != nil {
		return err
	}
	if asJSON {
		if err := json.NewEncoder(out).Encode(map[string]any{"engine": engine, "apis": res}); err != nil {
			return err
		}
	}
	var bad []string
	for _, r := range res {
		if !asJSON {
			fmt.Fprintf(out, "%-20s engine %s, %d CPUs, %d requests, concurrency %d: %.0f/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms, first burst max %.1f ms (limit %.0f ms); verified %d, denied %d, fallback %d, failed %d\n",
				r.API, engine, runtime.NumCPU(), r.Requests, r.Concurrency, r.PerSecond, r.P50Millis, r.P99Millis, r.MaxMillis,
				r.FirstBurstMaxMillis, r.LimitMillis, r.Verified, r.Denied, r.Fallbacks, r.Failed)
		}
		if r.P99Millis >= r.LimitMillis || r.Fallbacks > 0 || r.Failed > 0 {
			bad = append(bad, r.API)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("bench travelrule -api: %v over the enclave's limit, fell back or failed", bad)
	}
	return nil
}
