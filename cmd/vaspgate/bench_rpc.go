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

	"github.com/vaspgate/vaspgate/cmd/vaspgate/bench/rpcbench"
)

// benchRPCCmd runs `vaspgate bench rpc …`; args are what follows "rpc".
func benchRPCCmd(args []string) error {
	return runBenchRPC(context.Background(), args, os.Stdout)
}

func runBenchRPC(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench rpc", flag.ContinueOnError)
	fs.SetOutput(out)
	var o rpcbench.Options
	fs.StringVar(&o.DatabaseURL, "database-url", "", "sqlite:PATH or postgres://… (a fresh schema is made and dropped); empty: a temporary SQLite file")
	fs.IntVar(&o.Transactions, "transactions", 2000, "transactions the calls spread over")
	fs.IntVar(&o.Concurrency, "concurrency", 32, "concurrent business clients in the throughput phase")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each phase")
	fs.IntVar(&o.Rate, "rate", 200, "offered calls per second in the latency phase")
	fs.IntVar(&o.Workers, "workers", 64, "callback engine workers")
	fs.StringVar(&o.Method, "method", "customer", "customer: notify_customer_info_updated (customer read + snapshot each call); hold: notify_transaction_on_hold / notify_onchain_funds_received; sep31: notify_customer_info_updated on SEP-31 receive transactions (callbacks to the sending anchor)")
	fs.BoolVar(&o.Isolated, "isolated", false, "start the callback engine only after the throughput phase (measures the RPC path alone)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := rpcbench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(r)
	}
	what := "notify_customer_info_updated (customer read from a loopback business server, snapshot, SEP-12 + SEP-6 callbacks, events)"
	switch r.Method {
	case "hold":
		what = "notify_transaction_on_hold / notify_onchain_funds_received (SEP-6 callback, event)"
	case "sep31":
		what = "SEP-31 notify_customer_info_updated (receiver read from a loopback business server, snapshot, SEP-31 callback to the sending anchor, events)"
	}
	fmt.Fprintf(out, "engine %s, %d CPUs, %d transactions, %s; every call a status change\n",
		r.Engine, runtime.NumCPU(), r.Transactions, what)
	mode := "deliveries running"
	if r.Isolated {
		mode = "deliveries after the phase"
	}
	fmt.Fprintf(out, "throughput     %.0f status changes/s with %d clients, "+mode+" (%d calls in %.1f s, %d errors); RPC p50 %.1f ms, p99 %.1f ms\n",
		r.PerSecond, r.Concurrency, r.Calls, r.Seconds, r.Errors, r.RPCP50Millis, r.RPCP99Millis)
	fmt.Fprintf(out, "latency        at %d/s offered (%.0f/s achieved, %d calls): RPC sent -> signed SEP-6/SEP-31 callback received p50 %.1f ms, p99 %.1f ms, max %.1f ms; RPC p99 %.1f ms\n",
		r.Rate, r.AchievedRatePerSec, r.RateCalls, r.CallbackP50Millis, r.CallbackP99Millis, r.CallbackMaxMillis, r.RateRPCP99Millis)
	if r.CallbacksMissing > 0 {
		return fmt.Errorf("bench rpc: %d callbacks did not arrive", r.CallbacksMissing)
	}
	return nil
}
