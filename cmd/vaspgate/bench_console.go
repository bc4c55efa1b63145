package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/vaspgate/vaspgate/cmd/vaspgate/bench/consolebench"
)

func benchConsoleCmd(args []string) error {
	return runBenchConsole(context.Background(), args, os.Stdout)
}

func runBenchConsole(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench console", flag.ContinueOnError)
	fs.SetOutput(out)
	var o consolebench.Options
	fs.StringVar(&o.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "postgres://… (a fresh schema is made, seeded and dropped)")
	fs.IntVar(&o.Deliveries, "deliveries", 1_000_000, "deliveries seeded")
	fs.IntVar(&o.Customers, "customers", 100_000, "customers (and SEP-6 transactions) seeded")
	fs.IntVar(&o.Verifications, "verifications", 10_000, "Travel Rule verifications seeded")
	fs.IntVar(&o.AuditRows, "audit", 100_000, "audit log rows seeded")
	fs.IntVar(&o.Requests, "requests", 200, "timed requests per page")
	fs.BoolVar(&o.Keep, "keep", false, "leave the seeded schema (its URL is printed) instead of dropping it")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Progress = os.Stderr
	r, err := consolebench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(r)
	}
	fmt.Fprintf(out, "engine %s, %d CPUs: %d deliveries, %d customers, %d transactions, %d verifications, %d audit rows (seeded in %.0f s)\n",
		r.Engine, runtime.NumCPU(), r.Deliveries, r.Customers, r.Transactions, r.Verifications, r.AuditRows, r.SeedSeconds)
	fmt.Fprintf(out, "%-40s %8s %8s %8s  (%d sequential requests each, signed in, over HTTP)\n", "page", "p50 ms", "p99 ms", "max ms", o.Requests)
	for _, p := range r.Pages {
		fmt.Fprintf(out, "%-40s %8.1f %8.1f %8.1f\n", p.Name, p.P50Millis, p.P99Millis, p.MaxMillis)
	}
	return nil
}
