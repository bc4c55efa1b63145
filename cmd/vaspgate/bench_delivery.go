package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/vaspgate/vaspgate/cmd/vaspgate/bench/callbackbench"
)

// benchDeliveryInstanceCmd runs `vaspgate bench delivery-instance`, an engine of a `bench
// delivery --instance-cpu` run, told what to do on its standard input.
func benchDeliveryInstanceCmd() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return callbackbench.RunInstance(ctx, os.Stdin, os.Stdout)
}

// benchDeliveryCmd runs `vaspgate bench delivery …`; args are what follows "delivery".
func benchDeliveryCmd(args []string) error {
	return runBenchDelivery(context.Background(), args, os.Stdout)
}

func runBenchDelivery(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench delivery", flag.ContinueOnError)
	fs.SetOutput(out)
	var o callbackbench.Options
	fs.StringVar(&o.DatabaseURL, "database-url", "", "sqlite:PATH or postgres://… (a fresh schema is made and dropped); empty: a temporary SQLite file")
	fs.IntVar(&o.Events, "n", 10000, "events to record")
	fs.IntVar(&o.Subjects, "m", 100, "subjects (ordering keys)")
	fs.IntVar(&o.Receivers, "k", 4, "loopback receivers (endpoints)")
	fs.Float64Var(&o.FailShare, "fail", 0, "share of requests the receivers answer 503 (0-1)")
	fs.IntVar(&o.Rate, "rate", 0, "events recorded per second (0: as fast as possible)")
	fs.IntVar(&o.Workers, "workers", 256, "engine workers")
	fs.IntVar(&o.Producers, "producers", 8, "concurrent recording goroutines, or publishers with --via-http (1 on SQLite in process)")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up waiting after this long")
	fs.BoolVar(&o.Preload, "preload", false, "record every event first, then start the engine (measures the engine alone)")
	fs.BoolVar(&o.ViaHTTP, "via-http", false, "publish every event through the publish API (POST /admin/v1/messages on a loopback admin listener) instead of the outbox in process")
	fs.IntVar(&o.Instances, "instances", 1, "delivery engines on the database (each with its own connection pool), as several vaspgate processes")
	fs.Float64Var(&o.InstanceCPU, "instance-cpu", 0, "run each instance as a process of its own limited to this many cores (a cgroup CPU quota, as a container's CPU limit; needs root and PostgreSQL), as instances on machines of their own (0: engines in this process, unlimited)")
	fs.IntVar(&o.PayloadBytes, "payload-bytes", 0, "pad each event's payload to this many bytes (0: ~30 bytes, unpadded)")
	fs.StringVar(&o.Signature, "signature", callbackbench.SignatureStellar, "how vaspgate signs and the receivers verify: stellar (URL destinations, Stellar Signature header, ed25519) or standard-webhooks (one configured destination per receiver, Standard Webhooks v1 HMAC-SHA256; needs --via-http)")
	fs.StringVar(&o.Peer, "peer", "", "measure another delivery service with the same publisher and receivers instead of vaspgate's engine: outpost (Hookdeck Outpost, already running at --peer-url)")
	fs.StringVar(&o.PeerURL, "peer-url", "http://127.0.0.1:3333", "the peer's base URL")
	fs.StringVar(&o.PeerAPIKey, "peer-api-key", "", "the peer's admin API key")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.InstanceCPU > 0 {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Program = exe
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r, err := callbackbench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(r)
	}
	rate := "as fast as possible"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%d/s", r.Rate)
	}
	if r.Preload {
		rate = "preloaded"
	}
	if r.ViaHTTP {
		rate += ", published over HTTP"
	}
	if r.Instances > 1 {
		rate += fmt.Sprintf(", %d engine instances", r.Instances)
	}
	if r.InstanceCPU > 0 {
		rate += fmt.Sprintf(" as processes of %.2f cores each", r.InstanceCPU)
	}
	if r.PayloadBytes > 0 {
		rate += fmt.Sprintf(", payloads of %d bytes", r.PayloadBytes)
	}
	if r.Signature != "" && r.Peer == "" {
		rate += ", signed " + r.Signature
	}
	if r.Peer != "" {
		fmt.Fprintf(out, "peer %s, %d CPUs, %d events over %d subjects to %d receivers, fail share %.2f, offered %s\n",
			r.Peer, runtime.NumCPU(), r.Events, r.Subjects, r.Receivers, r.FailShare, rate)
	} else {
		fmt.Fprintf(out, "engine %s, %d CPUs, %d events over %d subjects to %d receivers, fail share %.2f, offered %s, %d workers\n",
			r.Engine, runtime.NumCPU(), r.Events, r.Subjects, r.Receivers, r.FailShare, rate, r.Workers)
	}
	fmt.Fprintf(out, "delivered      %.0f signed deliveries/s (%.2f s; recorded at %.0f/s)\n", r.PerSecond, r.Seconds, r.EnqueueRate)
	fmt.Fprintf(out, "latency        commit->receipt p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.P50Millis, r.P99Millis, r.MaxMillis)
	fmt.Fprintf(out, "requests       %d (%d answered 503)\n", r.Requests, r.Failed503)
	if r.InstanceCPU > 0 {
		fmt.Fprintf(out, "instances      %.3f ms of CPU per delivery, quota used up in %.0f %% of periods\n", r.InstanceCPUMillis, 100*r.InstanceThrottled)
	}
	fmt.Fprintf(out, "lost %d, duplicated %d, out of order %d, bad signatures %d\n", r.Lost, r.Duplicated, r.OutOfOrder, r.BadSignatures)
	// vaspgate promises order per subject; a peer that does not is measured, not failed.
	if r.Lost > 0 || r.BadSignatures > 0 || (r.OutOfOrder > 0 && r.Peer == "") {
		return fmt.Errorf("bench delivery: %d lost, %d out of order, %d bad signatures", r.Lost, r.OutOfOrder, r.BadSignatures)
	}
	return nil
}
