package app

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// The hourly maintenance runs as River periodic jobs on both engines: once the instance is
// elected leader it enqueues each task (run on start), a worker runs it, and Run returns
// cleanly through the ordered shutdown.
func TestMaintenanceRunsAsPeriodicJobs(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.DatabaseURL = storetest.URL(t, d)
			cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
			cfg.Stellar.Ledger = config.LedgerNone
			cfg.TravelRule.SpoolDir = filepath.Join(t.TempDir(), "spool")
			a, err := New(context.Background(), cfg, quiet(), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			want := []string{"delivery_purge", "kyc_file_purge", "travel_rule_retention", "travel_rule_sweep"}
			if d == store.Postgres {
				// The identity rate limit's buckets live in the database only on PostgreSQL.
				want = []string{"delivery_purge", "kyc_file_purge", "rate_bucket_purge", "travel_rule_retention", "travel_rule_sweep"}
			}
			var got []string
			wait.For(t, "every maintenance task run", func() bool {
				got = completedTasks(t, a.Jobs)
				return slices.Equal(got, want)
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
		})
	}
}

// completedTasks lists the maintenance tasks that ran to completion, sorted.
func completedTasks(t *testing.T, jobs *job.Engine) []string {
	t.Helper()
	res, err := jobs.Client().JobList(context.Background(),
		river.NewJobListParams().Kinds(job.MaintenanceArgs{}.Kind()).States(rivertype.JobStateCompleted).First(100))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range res.Jobs {
		var a job.MaintenanceArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a.Task)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
