// Command vaspgate is the VASP compliance gateway: SEP-1/10/12/6 for wallets, an Anchor
// Platform compatible JSON-RPC for the business, the Travel Rule enclave callback receiver,
// and one durable, ordered, signed delivery engine for every outbound callback.
//
// Usage:
//
//	vaspgate serve [--config FILE]      run the service (SQLite in ./vaspgate.db by default)
//	vaspgate migrate [--config FILE]    apply database migrations and exit
//	vaspgate version                    print the version
//	vaspgate keys generate              print a new Stellar signing keypair
//	vaspgate deliveries list|show|replay …   inspect and replay callback deliveries
//	vaspgate bench delivery|travelrule|rpc|console|observer …  load tools (see docs/benchmarks.md)
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/app"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the module
// build information is used.
var version = ""

const usage = `vaspgate — durable, ordered, signed callbacks for VASPs

Usage:
  vaspgate serve [--config FILE]           run the service
  vaspgate migrate [--config FILE]         apply database migrations and exit
  vaspgate version                         print the version
  vaspgate keys generate                   print a new Stellar signing keypair
  vaspgate deliveries list|show|replay …   inspect and replay callback deliveries
  vaspgate import anchor-platform --from … copy SEP-6 transactions from an Anchor Platform database
                                           (and, with --customers FILE, its customers' owners)
  vaspgate bench delivery|travelrule|rpc|console|observer … load tools

Configuration: defaults, then the YAML file given with --config, then VASPGATE_* variables
(see docs/configuration.md).
`

// gcPercent is the GOGC vaspgate runs with when the environment sets none. Its live heap
// is small (about 5 MB in bench delivery --via-http) and it allocates fast (every request,
// payload and attempt), so at Go's default of 100 it collected about 33 times a second
// under load; at 400 its CPU per event in bench delivery --via-http was 7-15 % lower, in
// three pairs of runs (issue 16, ninth pass). The heap may then grow to five times the
// live heap between collections: a few tens of MB more resident memory for that CPU. GOGC (and GOMEMLIMIT) in the environment still decide.
const gcPercent = 400

// defaultGC sets gcPercent unless the environment (read through lookup) sets GOGC.
func defaultGC(lookup func(string) (string, bool)) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

func main() {
	defaultGC(os.LookupEnv)
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, errHelp) && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "vaspgate:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, stdout, stderr)
	case "migrate":
		return migrate(rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "vaspgate", buildVersion())
		return nil
	case "keys":
		return keys(rest, stdout)
	case "deliveries":
		return deliveriesCmd(rest)
	case "import":
		return importCmd(context.Background(), rest, stdout)
	case "bench":
		return bench(rest, stderr)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		return v
	}
	return "unknown"
}

// errHelp: the user asked for a command's usage, which was printed; the command exits 0.
var errHelp = errors.New("help requested")

// parseFlags parses args into fs. Asked for help (-h, --help), it prints the usage to stdout
// and returns errHelp, so the command prints nothing else and exits 0; on a bad flag the
// usage goes to stderr with the error.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(usage.Bytes())
		return errHelp
	case err != nil:
		_, _ = stderr.Write(usage.Bytes())
		return err
	}
	return nil
}

func loadConfig(name string, args []string, stdout, stderr io.Writer) (config.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration file (then VASPGATE_* variables, see docs/configuration.md)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vaspgate %s [--config FILE]\n\n", name)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return config.Load(*path, os.LookupEnv)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func serve(args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, stdout, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	slog.SetDefault(log)
	for _, w := range config.UnknownEnv(os.Environ()) {
		log.Warn(w.String(), "variable", w.Name, "closest", w.Closest)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func migrate(args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("migrate", args, stdout, stderr)
	if err != nil {
		return err
	}
	for _, w := range config.UnknownEnv(os.Environ()) {
		fmt.Fprintln(stderr, "vaspgate: warning:", w)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %s: %d vaspgate migration(s), %d job engine migration(s) applied\n",
		db.Dialect(), len(res.Applied), res.RiverApplied)
	for _, m := range res.Applied {
		fmt.Fprintln(stdout, "  applied", m)
	}
	return nil
}

func keys(args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "generate" {
		return errors.New("usage: vaspgate keys generate")
	}
	kp, err := keypair.Random()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "SIGNING_KEY (public, goes in stellar.toml): %s\n", kp.Address())
	fmt.Fprintf(stdout, "VASPGATE_SIGNING_SEED (secret, keep it safe): %s\n", kp.Seed())
	return nil
}

func bench(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: vaspgate bench delivery|travelrule|rpc|console|observer [flags]")
	}
	switch args[0] {
	case "delivery":
		return benchDeliveryCmd(args[1:])
	case "delivery-instance": // started by `bench delivery --instance-cpu`, not by people
		return benchDeliveryInstanceCmd()
	case "travelrule":
		return benchTravelRuleCmd(args[1:])
	case "rpc":
		return benchRPCCmd(args[1:])
	case "console":
		return benchConsoleCmd(args[1:])
	case "observer":
		return benchObserverCmd(args[1:])
	default:
		return fmt.Errorf("unknown benchmark %q (want delivery, travelrule, rpc, console or observer)", args[0])
	}
}
