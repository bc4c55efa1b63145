package travelrulebench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

// TestFixturesMatchShared keeps the embedded copies byte for byte equal to shared/.
func TestFixturesMatchShared(t *testing.T) {
	t.Parallel()
	entries, err := fixtures.ReadDir("fixtures")
	if err != nil || len(entries) != 5 {
		t.Fatalf("embedded fixtures: %d, %v", len(entries), err)
	}
	for _, e := range entries {
		want, err := os.ReadFile(filepath.Join("../../../../../shared/fixtures/travel-rule", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := fixtures.ReadFile("fixtures/" + e.Name())
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from shared/fixtures/travel-rule", e.Name())
		}
	}
}

// TestRunCountsEverything runs a small bench on both engines: nothing lost, every repeat
// counted by the server.
func TestRunCountsEverything(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			u := storetest.URL(t, d)
			r, err := Run(context.Background(), Options{DatabaseURL: u, Requests: 300, Concurrency: 8, DupShare: 0.3})
			if err != nil {
				t.Fatal(err)
			}
			if r.Acked != 300 || r.Failed != 0 || r.Lost != 0 || r.Stored != r.Sent || r.Duplicates != r.SentDuplicates || r.SentDuplicates == 0 {
				t.Fatalf("%+v", r)
			}
		})
	}
}

// TestRunAgainstRunningServer drives a server it did not start, through its URL and admin API.
func TestRunAgainstRunningServer(t *testing.T) {
	t.Parallel()
	s, err := StartServer(context.Background(), ServerOptions{
		DatabaseURL: storetest.URL(t, store.SQLite), SpoolDir: t.TempDir(), Token: "running-server-token",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := Run(context.Background(), Options{
		URL: s.URL + CallbackPath, Token: "running-server-token", AdminURL: s.URL, Requests: 100, Concurrency: 4, DupShare: 0.2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != "remote" || r.Acked != 100 || r.Lost != 0 || r.Stored != r.Sent || r.Duplicates != r.SentDuplicates {
		t.Fatalf("%+v", r)
	}
	r, err = Run(context.Background(), Options{URL: s.URL + CallbackPath, Token: "wrong", Requests: 5, Concurrency: 1})
	if err != nil || r.Failed != 5 || r.Acked != 0 || r.Lost != -1 {
		t.Fatalf("wrong token: %+v (err %v)", r, err)
	}
}
