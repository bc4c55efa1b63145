package callbackhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/vaspgate/vaspgate/internal/testkit"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/callback/callbackhttp"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

const seed = "SCZANGBA5YHTNYVVV4C3U252E2B6P6F5T3U6MM63WBSBZATAQI3EBTQ4"

func call(t *testing.T, srv *httptest.Server, method, path string, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", method, path, resp.StatusCode, want)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var code atomic.Int32
		code.Store(400)
		wallet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(code.Load())) }))
		defer wallet.Close()
		eng, err := callback.New(context.Background(), db, testkit.FastCallbackOptions(seed))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- eng.Run(ctx) }()
		defer func() { cancel(); <-done }()

		mux := http.NewServeMux()
		callbackhttp.Register(mux, eng)
		api := httptest.NewServer(mux)
		defer api.Close()

		for i := range 3 {
			if err := db.InTx(context.Background(), func(tx *store.Tx) error {
				return eng.Outbox().Wallet(context.Background(), tx, wallet.URL+"/cb", callback.Message{Type: "t", Subject: fmt.Sprintf("s%d", i), Body: []byte(`{"a":1}`)})
			}); err != nil {
				t.Fatal(err)
			}
		}
		var list struct {
			Deliveries []callback.Delivery `json:"deliveries"`
			Next       string              `json:"next_cursor"`
		}
		wait.For(t, "three dead letters", func() bool {
			call(t, api, "GET", "/admin/v1/deliveries?status=failed", 200, &list)
			return len(list.Deliveries) == 3
		})
		call(t, api, "GET", "/admin/v1/deliveries?status=failed&limit=2", 200, &list)
		if len(list.Deliveries) != 2 || list.Next == "" {
			t.Fatalf("page: %+v", list)
		}
		call(t, api, "GET", "/admin/v1/deliveries?cursor="+list.Next, 200, &list)
		if len(list.Deliveries) != 1 {
			t.Fatalf("second page: %+v", list)
		}
		call(t, api, "GET", "/admin/v1/deliveries?subject=s1", 200, &list)
		if len(list.Deliveries) != 1 || list.Deliveries[0].Subject != "s1" {
			t.Fatalf("by subject: %+v", list)
		}
		id := list.Deliveries[0].ID
		var one struct {
			callback.Delivery
			Body json.RawMessage `json:"body"`
		}
		call(t, api, "GET", "/admin/v1/deliveries/"+id, 200, &one)
		if string(one.Body) != `{"a":1}` || len(one.AttemptLog) != 1 || one.AttemptLog[0].StatusCode != 400 {
			t.Fatalf("show: %+v %s", one.Delivery, one.Body)
		}
		call(t, api, "GET", "/admin/v1/deliveries/nope", 404, nil)
		call(t, api, "GET", "/admin/v1/deliveries?status=bogus", 400, nil)
		// The console's orders, a page of one at a time: each delivery once.
		seen := map[string]bool{}
		for u := "/admin/v1/deliveries?sort=attempts&order=asc&limit=1"; ; {
			call(t, api, "GET", u, 200, &list)
			for _, d := range list.Deliveries {
				seen[d.ID] = true
			}
			if list.Next == "" {
				break
			}
			u = "/admin/v1/deliveries?sort=attempts&order=asc&limit=1&cursor=" + list.Next
		}
		if len(seen) != 3 {
			t.Fatalf("by attempts, a page at a time: %d deliveries, want 3", len(seen))
		}
		call(t, api, "GET", "/admin/v1/deliveries?sort=size", 400, nil)
		call(t, api, "GET", "/admin/v1/deliveries?order=sideways", 400, nil)
		call(t, api, "GET", "/admin/v1/deliveries?sort=status&cursor=edited", 400, nil)

		code.Store(200)
		call(t, api, "POST", "/admin/v1/deliveries/"+id+"/replay", 202, nil)
		wait.For(t, "replayed", func() bool {
			call(t, api, "GET", "/admin/v1/deliveries/"+id, 200, &one)
			return one.Status == callback.StatusDelivered
		})
		call(t, api, "POST", "/admin/v1/deliveries/"+id+"/replay", 202, nil) // a delivered one may be sent again
		wait.For(t, "sent again", func() bool {
			call(t, api, "GET", "/admin/v1/deliveries/"+id, 200, &one)
			return one.Status == callback.StatusDelivered && len(one.AttemptLog) == 3
		})

		var eps struct {
			Endpoints []callback.Endpoint `json:"endpoints"`
		}
		call(t, api, "GET", "/admin/v1/endpoints", 200, &eps)
		if len(eps.Endpoints) != 1 || eps.Endpoints[0].Failed != 2 {
			t.Fatalf("endpoints: %+v", eps)
		}
		ep := eps.Endpoints[0].ID
		var ed callback.Endpoint
		call(t, api, "POST", "/admin/v1/endpoints/"+ep+"/disable", 200, &ed)
		if ed.State != "disabled" {
			t.Fatalf("after disable: %+v", ed)
		}
		var n struct {
			Replayed int `json:"replayed"`
		}
		call(t, api, "POST", "/admin/v1/endpoints/"+ep+"/replay?since="+url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)), 202, &n)
		if n.Replayed != 2 {
			t.Fatalf("replayed %d, want 2", n.Replayed)
		}
		call(t, api, "GET", "/admin/v1/deliveries?status=paused", 200, &list)
		if len(list.Deliveries) != 2 {
			t.Fatalf("paused while disabled: %+v", list)
		}
		call(t, api, "POST", "/admin/v1/endpoints/"+ep+"/enable", 200, &ed)
		wait.For(t, "all delivered", func() bool {
			call(t, api, "GET", "/admin/v1/deliveries?status=delivered", 200, &list)
			return len(list.Deliveries) == 3
		})
		call(t, api, "POST", "/admin/v1/endpoints/nope/enable", 404, nil)
		call(t, api, "POST", "/admin/v1/endpoints/"+ep+"/replay?since=yesterday", 400, nil)
	})
}
