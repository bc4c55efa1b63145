package travelrulehttp_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/vaspgate/vaspgate/internal/job"
	"github.com/vaspgate/vaspgate/internal/lifecycle"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/travelrule"
	"github.com/vaspgate/vaspgate/internal/travelrule/travelrulehttp"
)

// Example shows how `serve` wires the receiver: the service before the job engine opens,
// run beside it; the enclave path on the admin listener without admin auth; the admin
// routes on the mux behind admin auth.
func Example() {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:vaspgate.db")
	if err != nil {
		log.Fatal(err)
	}
	keys, _ := seal.New(make([]byte, seal.KeySize))
	jobs := job.New(db, job.Options{})
	svc, err := travelrule.New(db, jobs, travelrule.Options{Sealer: keys, SpoolDir: ".",
		StoreBudget: 250 * time.Millisecond, RetentionDays: 1825})
	if err != nil {
		log.Fatal(err)
	}
	if err := jobs.Open(); err != nil {
		log.Fatal(err)
	}
	go func() {
		// The service replays the spool and runs the group commit; both stop when ctx ends,
		// after the listeners (app.Run's order).
		_ = lifecycle.Run(ctx, lifecycle.Stage{{Name: "travel rule", Run: svc.Run}, {Name: "jobs", Run: jobs.Run}})
	}()
	adminListener, adminAPI := http.NewServeMux(), http.NewServeMux()
	h, err := travelrulehttp.NewCallbackHandler(svc, travelrulehttp.CallbackConfig{
		Tokens:       []string{os.Getenv("VEGA_VERIFICATION_AUTHORIZATION_TOKEN")},
		Header:       os.Getenv("VEGA_VERIFICATION_AUTHORIZATION_KEY"),
		MaxBodyBytes: 1 << 20,
	})
	switch err {
	case nil:
		adminListener.Handle("POST /travel-rule/callback", h)
	case travelrulehttp.ErrNoToken:
		log.Print("travel rule receiver off: VEGA_VERIFICATION_AUTHORIZATION_TOKEN is not set")
	default:
		log.Fatal(err)
	}
	travelrulehttp.Register(adminAPI, svc) // mounted behind admin bearer auth
}
