package main

import (
	"bytes"
	"context"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
)

func TestDeliveriesCLI(t *testing.T) {
	t.Parallel()
	dbURL := storetest.URL(t, store.SQLite)
	db, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	wallet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"rejected"}`))
	}))
	defer wallet.Close()
	eng, err := callback.New(context.Background(), db, testkit.FastCallbackOptions("SCZANGBA5YHTNYVVV4C3U252E2B6P6F5T3U6MM63WBSBZATAQI3EBTQ4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return eng.Outbox().Wallet(context.Background(), tx, wallet.URL+"/cb", callback.Message{EventID: "ev-cli", Type: "sep12.customer", Subject: "customer:1", Body: []byte(`{"status":"ACCEPTED"}`)})
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- eng.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	var list []callback.Delivery
	for len(list) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no dead letter")
		}
		time.Sleep(5 * time.Millisecond)
		list, _, _ = eng.Deliveries(context.Background(), callback.Filter{Status: callback.StatusFailed})
	}
	cancel()
	<-done
	db.Close()

	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runDeliveries(context.Background(), append(args, "--database-url", dbURL), &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	id := list[0].ID
	if out := run("list", "--status", "failed"); !strings.Contains(out, id) || !strings.Contains(out, "customer:1") || !strings.HasPrefix(out, "ID") {
		t.Fatalf("list:\n%s", out)
	}
	if out := run("show", id); !strings.Contains(out, `{"error":"rejected"}`) || !strings.Contains(out, "400") {
		t.Fatalf("show:\n%s", out)
	}
	if out := run("show", id, "--json"); !strings.Contains(out, `"attempt_log"`) {
		t.Fatalf("show --json:\n%s", out)
	}
	if out := run("endpoints"); !strings.Contains(out, wallet.URL+"/cb") {
		t.Fatalf("endpoints:\n%s", out)
	}
	if out := run("replay", id); !strings.Contains(out, "replaying "+id) {
		t.Fatalf("replay:\n%s", out)
	}
	if out := run("list", "--status", "pending", "--json"); !strings.Contains(out, id) {
		t.Fatalf("after replay:\n%s", out)
	}
	ep := callback.WalletEndpointID(wallet.URL + "/cb")
	if out := run("disable", ep); !strings.Contains(out, "disabled "+ep) {
		t.Fatalf("disable:\n%s", out)
	}
	if out := run("list", "--status", "paused"); !strings.Contains(out, id) {
		t.Fatalf("paused:\n%s", out)
	}
	if out := run("replay", "--endpoint", ep, "--since", "1h"); !strings.Contains(out, "replayed 0") {
		t.Fatalf("endpoint replay:\n%s", out)
	}
	var out bytes.Buffer
	if err := runDeliveries(context.Background(), []string{"show", "--database-url", dbURL}, &out); err == nil {
		t.Fatal("show without an id succeeded")
	}
	if err := runDeliveries(context.Background(), []string{"frobnicate", "--database-url", dbURL}, &out); err == nil {
		t.Fatal("unknown command succeeded")
	}
}

func TestBenchDeliveryCLI(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := runBenchDelivery(context.Background(), []string{"-n", "200", "-m", "10", "-k", "2", "-fail", "0.1", "-json"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"lost":0`) || !strings.Contains(out.String(), `"out_of_order":0`) {
		t.Fatalf("bench: %s", out.String())
	}
}
