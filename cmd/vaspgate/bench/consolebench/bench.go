// Package consolebench measures the operator console's pages on a large database: it
// seeds a fresh PostgreSQL schema with a million deliveries, a hundred thousand customers
// and transactions, ten thousand Travel Rule verifications and a hundred thousand audit
// rows, starts vaspgate on it (internal/app, as `vaspgate serve` does, without the
// background workers so they do not compete with the measurement), signs in and times each
// page over real HTTP. It backs `vaspgate bench console`.
package consolebench

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/app"
	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Options configure a run.
type Options struct {
	// DatabaseURL is a postgres:// URL; a fresh schema is made there and dropped after.
	DatabaseURL string
	// Deliveries, Customers (and as many transactions), Verifications and AuditRows are
	// the seeded sizes. Defaults 1,000,000, 100,000, 10,000 and 100,000.
	Deliveries, Customers, Verifications, AuditRows int
	// Requests is the number of timed requests per page (after 5 untimed). Default 200.
	Requests int
	// Progress receives a line per phase (nil: none).
	Progress io.Writer
	// Keep leaves the seeded schema in place (its URL goes to Progress), to look at the
	// console on it with `vaspgate serve` or to EXPLAIN its queries.
	Keep bool
}

// Page is one page's timings.
type Page struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Follow times the page Path's "next" link leads to (a keyset page after the first)
	// instead of Path itself; Path is then that page's address.
	Follow     bool    `json:"follow,omitempty"`
	Requests   int     `json:"requests"`
	P50Millis  float64 `json:"p50_ms"`
	P99Millis  float64 `json:"p99_ms"`
	MaxMillis  float64 `json:"max_ms"`
	ServedRows bool    `json:"served_rows"`
}

// Result is what a run measured.
type Result struct {
	Engine        string  `json:"engine"`
	Deliveries    int     `json:"deliveries"`
	Customers     int     `json:"customers"`
	Transactions  int     `json:"transactions"`
	Verifications int     `json:"verifications"`
	AuditRows     int     `json:"audit_rows"`
	SeedSeconds   float64 `json:"seed_seconds"`
	Pages         []Page  `json:"pages"`
}

const adminToken = "bench-console-admin-token-0123456789"

// Run seeds, serves and measures.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Deliveries <= 0 {
		o.Deliveries = 1_000_000
	}
	if o.Customers <= 0 {
		o.Customers = 100_000
	}
	if o.Verifications <= 0 {
		o.Verifications = 10_000
	}
	if o.AuditRows <= 0 {
		o.AuditRows = 100_000
	}
	if o.Requests <= 0 {
		o.Requests = 200
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if d, _, err := store.ParseURL(o.DatabaseURL); err != nil || d != store.Postgres {
		return Result{}, errors.New("consolebench: --database-url must be a postgres:// URL (the console's figures are for PostgreSQL)")
	}
	dbURL, drop, err := store.Scratch(ctx, o.DatabaseURL)
	if err != nil {
		return Result{}, err
	}
	if o.Keep {
		fmt.Fprintf(o.Progress, "the seeded database stays at %s\n", dbURL)
	} else {
		defer drop()
	}
	r := Result{Engine: "postgres", Deliveries: o.Deliveries, Customers: o.Customers, Transactions: o.Customers,
		Verifications: o.Verifications, AuditRows: o.AuditRows}

	cfg := config.Default()
	cfg.DatabaseURL = dbURL
	cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.AdminToken = adminToken
	cfg.EncryptionKey = seal.NewKey()
	cfg.Stellar.SigningSeed = keypair.MustRandom().Seed()
	cfg.Stellar.Ledger = config.LedgerNone
	a, err := app.New(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		return r, err
	}
	defer a.DB.Close()

	start := time.Now()
	fmt.Fprintf(o.Progress, "seeding %d deliveries, %d customers and transactions, %d verifications, %d audit rows…\n",
		o.Deliveries, o.Customers, o.Verifications, o.AuditRows)
	ids, err := seed(ctx, a.DB, o)
	if err != nil {
		return r, err
	}
	r.SeedSeconds = time.Since(start).Seconds()
	fmt.Fprintf(o.Progress, "seeded in %.0f s\n", r.SeedSeconds)

	// Only the listeners: the delivery engine and jobs stay off, so nothing but the
	// console's own queries touches the database during the measurement.
	srvCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Server.Run(srvCtx) }()
	defer func() { stop(); <-served }()

	base := "http://" + a.Server.AdminAddr()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := hc.PostForm(base+"/console/signin", url.Values{"token": {adminToken}})
	if err != nil {
		return r, fmt.Errorf("consolebench: sign in: %w", err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/console/" {
		return r, fmt.Errorf("consolebench: sign in landed on %s", resp.Request.URL.Path)
	}

	mid := time.UnixMilli(ids.baseMillis + int64(o.Deliveries/2)*deliveryGapMillis).UTC().Format("2006-01-02T15:04:05")
	pages := []Page{
		{Name: "overview", Path: "/console/"},
		{Name: "deliveries, newest", Path: "/console/deliveries"},
		{Name: "deliveries, oldest first", Path: "/console/deliveries?order=oldest"},
		{Name: "deliveries, failed", Path: "/console/deliveries?status=failed"},
		{Name: "deliveries, failed, oldest first", Path: "/console/deliveries?status=failed&order=oldest"},
		{Name: "deliveries, one endpoint, oldest first", Path: "/console/deliveries?order=oldest&endpoint=" + ids.endpoint},
		{Name: "deliveries, one endpoint", Path: "/console/deliveries?endpoint=" + ids.endpoint},
		{Name: "deliveries, one subject", Path: "/console/deliveries?subject=" + url.QueryEscape(ids.subject)},
		{Name: "deliveries, before a time (mid-table)", Path: "/console/deliveries?before=" + mid},
		{Name: "deliveries, by status", Path: "/console/deliveries?sort=status"},
		{Name: "deliveries, by status, ascending", Path: "/console/deliveries?sort=status&order=asc"},
		{Name: "deliveries, by status, second page", Path: "/console/deliveries?sort=status", Follow: true},
		{Name: "deliveries, by last update", Path: "/console/deliveries?sort=updated"},
		{Name: "deliveries, by last update, oldest first", Path: "/console/deliveries?sort=updated&order=asc"},
		{Name: "deliveries, by last update, second page", Path: "/console/deliveries?sort=updated", Follow: true},
		{Name: "deliveries, by attempts", Path: "/console/deliveries?sort=attempts"},
		{Name: "deliveries, by attempts, fewest first", Path: "/console/deliveries?sort=attempts&order=asc"},
		{Name: "deliveries, by attempts, second page", Path: "/console/deliveries?sort=attempts", Follow: true},
		{Name: "deliveries, failed, by attempts", Path: "/console/deliveries?status=failed&sort=attempts"},
		{Name: "deliveries, one endpoint, by last update", Path: "/console/deliveries?sort=updated&endpoint=" + ids.endpoint},
		{Name: "deliveries, before a time, oldest first", Path: "/console/deliveries?order=oldest&before=" + mid},
		{Name: "deliveries, before a time, by attempts", Path: "/console/deliveries?sort=attempts&before=" + mid},
		{Name: "delivery with attempts", Path: "/console/deliveries/" + ids.delivery},
		{Name: "customers", Path: "/console/customers"},
		{Name: "customers, PROCESSING", Path: "/console/customers?status=PROCESSING"},
		{Name: "customers, by account", Path: "/console/customers?account=" + ids.account},
		{Name: "customers, newest first", Path: "/console/customers?order=newest"},
		{Name: "customers, by status", Path: "/console/customers?sort=status"},
		{Name: "customers, by status, second page", Path: "/console/customers?sort=status", Follow: true},
		{Name: "customers, by last update", Path: "/console/customers?sort=updated&order=desc"},
		{Name: "customer", Path: "/console/customers/" + ids.customer},
		{Name: "transactions", Path: "/console/transactions"},
		{Name: "transactions, oldest first", Path: "/console/transactions?order=oldest"},
		{Name: "transactions, pending_anchor", Path: "/console/transactions?status=pending_anchor"},
		{Name: "transactions, pending_anchor, oldest first", Path: "/console/transactions?status=pending_anchor&order=oldest"},
		{Name: "transactions, by account", Path: "/console/transactions?account=" + ids.account},
		{Name: "transactions, by status", Path: "/console/transactions?sort=status"},
		{Name: "transactions, by status, second page", Path: "/console/transactions?sort=status", Follow: true},
		{Name: "transactions, by last update", Path: "/console/transactions?sort=updated"},
		{Name: "transactions, by last update, oldest first", Path: "/console/transactions?sort=updated&order=asc"},
		{Name: "transactions, pending_anchor, by last update", Path: "/console/transactions?status=pending_anchor&sort=updated"},
		{Name: "travel rule verifications", Path: "/console/travel-rule"},
		{Name: "travel rule, DENIED", Path: "/console/travel-rule?status=DENIED"},
		{Name: "travel rule, by status", Path: "/console/travel-rule?sort=status"},
		{Name: "travel rule, by risk", Path: "/console/travel-rule?sort=risk"},
		{Name: "travel rule, by risk, second page", Path: "/console/travel-rule?sort=risk", Follow: true},
		{Name: "audit log", Path: "/console/audit"},
		{Name: "audit log, oldest first", Path: "/console/audit?order=oldest"},
		{Name: "audit log, one operator", Path: "/console/audit?operator=op-7"},
	}
	for i := range pages {
		p := &pages[i]
		fmt.Fprintf(o.Progress, "timing %s\n", p.Name)
		if err := timePage(ctx, hc, base, p, o.Requests); err != nil {
			return r, err
		}
	}
	r.Pages = pages
	return r, nil
}

// nextLink finds a list page's pager link.
var nextLink = regexp.MustCompile(`rel="next" href="([^"]+)"`)

func timePage(ctx context.Context, hc *http.Client, base string, p *Page, n int) error {
	if p.Follow {
		resp, err := hc.Get(base + p.Path)
		if err != nil {
			return fmt.Errorf("consolebench: %s: %w", p.Name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := nextLink.FindSubmatch(body)
		if err != nil || m == nil {
			return fmt.Errorf("consolebench: %s: the first page has no next link (%v)", p.Name, err)
		}
		p.Path = html.UnescapeString(string(m[1]))
	}
	var took []time.Duration
	for i := 0; i < n+5; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+p.Path, nil)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("consolebench: %s: %w", p.Name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if err != nil || resp.StatusCode != http.StatusOK || resp.Request.URL.Path == "/console/signin" {
			return fmt.Errorf("consolebench: %s: status %d at %s", p.Name, resp.StatusCode, resp.Request.URL.Path)
		}
		// A page that lists nothing measures nothing: every timed page must show rows.
		p.ServedRows = strings.Contains(string(body), "<td><a href=\"/console/") || strings.Contains(string(body), "<dl class=\"facts\"") ||
			strings.Contains(string(body), "<td>20")
		if i >= 5 {
			took = append(took, d)
		}
	}
	if !p.ServedRows {
		return fmt.Errorf("consolebench: %s showed no rows: the seed does not match the page", p.Name)
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p.Requests = len(took)
	p.P50Millis = ms(took[len(took)/2])
	p.P99Millis = ms(took[(len(took)*99+99)/100-1])
	p.MaxMillis = ms(took[len(took)-1])
	return nil
}
