package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/callback/callbackhttp"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
)

const deliveriesUsage = `usage: vaspgate deliveries <command> [flags]

Inspect and replay outbound callbacks (the same powers as /admin/v1/deliveries and
/admin/v1/endpoints), reading the database directly.

commands:
  list      [--status pending|paused|delivered|failed] [--endpoint ID] [--subject S] [--limit N] [--cursor C]
  show      DELIVERY_ID                 one delivery, its body and every attempt
  replay    DELIVERY_ID                 send one delivery again
  replay    --endpoint ID [--since T]   replay an endpoint's failed deliveries created since T
                                        (RFC 3339 time, or a duration back from now such as 24h)
  endpoints                             endpoints and their health
  enable    ENDPOINT_ID                 enable an endpoint (resumes its paused deliveries)
  disable   ENDPOINT_ID                 disable an endpoint (its deliveries are kept, paused)

common flags (before or after the command's own):
  --config FILE        configuration file (else defaults and environment)
  --database-url URL   overrides database_url / VASPGATE_DATABASE_URL
  --json               machine-readable output
`

// deliveriesCmd runs `vaspgate deliveries …`; args are what follows "deliveries".
func deliveriesCmd(args []string) error {
	return runDeliveries(context.Background(), args, os.Stdout)
}

func runDeliveries(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, deliveriesUsage)
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("deliveries "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "configuration file")
	dbURL := fs.String("database-url", "", "database URL")
	asJSON := fs.Bool("json", false, "JSON output")
	status := fs.String("status", "", "")
	endpoint := fs.String("endpoint", "", "")
	subject := fs.String("subject", "", "")
	limit := fs.Int("limit", 50, "")
	cursor := fs.String("cursor", "", "")
	since := fs.String("since", "", "")
	// Flags may come before or after positional arguments.
	var pos []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("deliveries %s: %w\n\n%s", cmd, err, deliveriesUsage)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}

	cfg, err := config.Load(*cfgPath, os.LookupEnv)
	if err != nil && *dbURL == "" {
		return err
	}
	if *dbURL != "" {
		cfg.DatabaseURL = *dbURL
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	// The operators' view only: nothing starts and nothing is written until a command does.
	eng := callback.NewAdmin(db)
	one := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("deliveries %s: want exactly one id\n\n%s", cmd, deliveriesUsage)
		}
		return pos[0], nil
	}
	emit := func(v any) error {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}

	switch cmd {
	case "list":
		list, next, err := eng.Deliveries(ctx, callback.Filter{Status: *status, EndpointID: *endpoint, Subject: *subject, Limit: *limit, Cursor: *cursor})
		if err != nil {
			return err
		}
		if *asJSON {
			if list == nil {
				list = []callback.Delivery{}
			}
			return emit(map[string]any{"deliveries": list, "next_cursor": next})
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tATTEMPTS\tSUBJECT\tSEQ\tTYPE\tCREATED\tENDPOINT\tLAST ERROR")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Status, d.Attempts, d.Subject, d.Seq, d.EventType,
				d.CreatedAt.Format(time.RFC3339), d.EndpointURL, d.LastError)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if next != "" {
			fmt.Fprintf(out, "\nmore: --cursor %s\n", next)
		}
		return nil
	case "show":
		id, err := one()
		if err != nil {
			return err
		}
		d, err := eng.Delivery(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			v := callbackhttp.DeliveryJSON{Delivery: d}
			if json.Valid(d.Body) {
				v.Body = d.Body
			}
			return emit(v)
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
		row("id", d.ID)
		row("status", d.Status)
		row("endpoint", d.EndpointURL+" ("+d.EndpointID+")")
		row("subject", d.Subject+" #"+strconv.FormatInt(d.Seq, 10))
		row("event", d.EventType+" "+d.EventID)
		row("occurred", d.OccurredAt.Format(time.RFC3339Nano))
		row("created", d.CreatedAt.Format(time.RFC3339Nano))
		if d.NextAt != nil {
			row("next attempt", d.NextAt.Format(time.RFC3339))
		}
		if d.FinishedAt != nil {
			row("finished", d.FinishedAt.Format(time.RFC3339))
		}
		row("body", string(d.Body))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(out)
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tSTARTED\tDURATION\tSTATUS\tOUTCOME\tERROR\tINSTANCE\tRESPONSE")
		for _, a := range d.AttemptLog {
			resp := strings.ReplaceAll(a.ResponseBody, "\n", " ")
			if len(resp) > 60 {
				resp = resp[:60] + "…"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", a.N, a.StartedAt.Format(time.RFC3339), a.Duration.Round(time.Microsecond),
				a.StatusCode, a.Outcome, strings.TrimSpace(a.ErrorCode+" "+a.Error), a.Instance, resp)
		}
		return tw.Flush()
	case "replay":
		if *endpoint != "" {
			t := time.Time{}
			if *since != "" {
				if d, err := time.ParseDuration(*since); err == nil {
					t = time.Now().Add(-d)
				} else if t, err = time.Parse(time.RFC3339, *since); err != nil {
					return fmt.Errorf("deliveries replay: --since %q is neither an RFC 3339 time nor a duration", *since)
				}
			}
			n, err := eng.ReplayEndpoint(ctx, *endpoint, t)
			if err != nil {
				return err
			}
			if *asJSON {
				return emit(map[string]any{"replayed": n})
			}
			fmt.Fprintf(out, "replayed %d failed deliveries of %s\n", n, *endpoint)
			return nil
		}
		id, err := one()
		if err != nil {
			return err
		}
		if err := eng.Replay(ctx, id); err != nil {
			return err
		}
		if *asJSON {
			return emit(map[string]any{"replayed": id})
		}
		fmt.Fprintf(out, "replaying %s\n", id)
		return nil
	case "endpoints":
		eps, err := eng.Endpoints(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if eps == nil {
				eps = []callback.Endpoint{}
			}
			return emit(map[string]any{"endpoints": eps})
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tSTATE\tCIRCUIT\tFAILURES\tPENDING\tFAILED\tURL\tREASON")
		for _, ep := range eps {
			circuit := "closed"
			if ep.CircuitOpen {
				circuit = "open until " + ep.CircuitUntil.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", ep.ID, ep.Kind, ep.State, circuit, ep.Failures, ep.Pending, ep.Failed, ep.URL, ep.DisabledReason)
		}
		return tw.Flush()
	case "enable", "disable":
		id, err := one()
		if err != nil {
			return err
		}
		if err := eng.SetEndpointEnabled(ctx, id, cmd == "enable"); err != nil {
			return err
		}
		fmt.Fprintf(out, "%sd %s\n", cmd, id)
		return nil
	}
	return errors.New("deliveries: unknown command " + strconv.Quote(cmd) + "\n\n" + deliveriesUsage)
}
