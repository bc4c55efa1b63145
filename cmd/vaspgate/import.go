package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	_ "github.com/jackc/pgx/v5/stdlib" // the Anchor Platform database

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/transfer/apimport"
)

const importUsage = `usage: vaspgate import anchor-platform --from postgres://… [flags]

Copy SEP-6 transactions (ids, statuses, amounts, memos, owners, times) from a Stellar Anchor
Platform 4.x database into vaspgate's. Idempotent: transactions already in vaspgate are left
as they are. No callbacks or events are sent for imported history.

flags:
  --from URL           the Anchor Platform PostgreSQL database (required)
  --customers FILE     the business server's customers created under Anchor Platform, as CSV
                       with a header naming id, stellar_account (or account) and memo, e.g.
                       the reference server's: COPY (SELECT id, stellar_account, memo FROM
                       customers) TO STDOUT WITH CSV HEADER. Each customer's owner (the
                       SEP-10 identity it was created with) is recorded, so that wallet reads
                       it by id at once and no other can; an owner already recorded stays
  --dry-run            read and map everything, write nothing, print the report
  --config FILE        vaspgate configuration file (for database_url)
  --database-url URL   overrides database_url / VASPGATE_DATABASE_URL
`

// importCmd runs `vaspgate import …`.
func importCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "anchor-platform" {
		fmt.Fprint(out, importUsage)
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return nil
		}
		return fmt.Errorf("import: unknown source %q", args[0])
	}
	fs := flag.NewFlagSet("import anchor-platform", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "")
	dry := fs.Bool("dry-run", false, "")
	customers := fs.String("customers", "", "")
	cfgPath := fs.String("config", "", "")
	dbURL := fs.String("database-url", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("import: %w\n\n%s", err, importUsage)
	}
	if *from == "" {
		return errors.New("import: --from postgres://… (the Anchor Platform database) is required")
	}
	cfg, err := config.Load(*cfgPath, os.LookupEnv)
	if err != nil && *dbURL == "" {
		return err
	}
	if *dbURL != "" {
		cfg.DatabaseURL = *dbURL
	}
	src, err := sql.Open("pgx", *from)
	if err != nil {
		return fmt.Errorf("import: open the Anchor Platform database: %w", err)
	}
	defer src.Close()
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if !*dry {
		if _, err := db.Migrate(ctx); err != nil {
			return err
		}
	} else if ok, err := db.Migrated(ctx); err != nil || !ok {
		return fmt.Errorf("import: the vaspgate database is not migrated (run vaspgate migrate first): %v", err)
	}
	opts := apimport.Options{Source: src, Transfers: transfer.New(transfer.Options{DB: db}), DryRun: *dry, DB: db}
	if *customers != "" {
		f, err := os.Open(*customers)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		opts.Customers = f
	}
	rep, err := apimport.Run(ctx, opts)
	if err != nil {
		return err
	}
	verb := "imported"
	if *dry {
		verb = "would import"
	}
	fmt.Fprintf(out, "read %d Anchor Platform SEP-6 transactions: %s %d, %d already in vaspgate, %d skipped\n",
		rep.Read, verb, rep.Imported, rep.Existing, rep.Skipped)
	ids := make([]string, 0, len(rep.Problems))
	for id := range rep.Problems {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(out, "  skipped %s: %s\n", id, rep.Problems[id])
	}
	if *customers != "" {
		fmt.Fprintf(out, "read %d customers: %s %d owners, %d already recorded, %d refused\n",
			rep.Customers.Read, verb, rep.Customers.Imported, rep.Customers.Existing, rep.Customers.Refused)
		ids := make([]string, 0, len(rep.CustomerProblems))
		for id := range rep.CustomerProblems {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Fprintf(out, "  refused customer %s: %s\n", id, rep.CustomerProblems[id])
		}
	}
	if *dry {
		b, _ := json.Marshal(rep)
		fmt.Fprintf(out, "%s\n", b)
	}
	return nil
}
