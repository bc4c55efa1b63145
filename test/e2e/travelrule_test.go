package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit"
)

// TestEnclaveCallbackReachesBusiness follows a Travel Rule callback through the assembled
// service: the enclave's POST is acknowledged with exactly {"result": true}, repeats are
// acknowledged and change nothing, and the business server receives one
// travel_rule.verification_updated event per verification change, authenticated with its
// API key, in the Anchor Platform envelope.
func TestEnclaveCallbackReachesBusiness(t *testing.T) {
	t.Parallel()
	fixtures := filepath.Join("..", "..", "..", "shared", "fixtures", "travel-rule")
	body, err := os.ReadFile(filepath.Join(fixtures, "verification_result_denied.json"))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			type event struct {
				ID, Type, Timestamp string
				Payload             map[string]any
			}
			var mu sync.Mutex
			var events []event
			got := make(chan struct{}, 64)
			biz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Api-Key") != "business-api-key" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				var e event
				b, _ := io.ReadAll(r.Body)
				if json.Unmarshal(b, &e) != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
				got <- struct{}{}
			}))
			defer biz.Close()

			s := startWith(t, d, testkit.NewWallet(t), func(cfg *config.Config) {
				cfg.Callback.Business.URL = biz.URL + "/event"
				cfg.Callback.Business.Auth = config.CallbackAuth{Type: config.AuthAPIKey, Secret: "business-api-key"}
				cfg.TravelRule.AuthorizationToken = "enclave-token-0123456789abcdef"
			})
			post := func(token string) (int, string) {
				req, _ := http.NewRequest("POST", s.admin+"/travel-rule/callback", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if code, _ := post("not-the-token"); code != http.StatusUnauthorized {
				t.Fatalf("wrong token = %d, want 401", code)
			}
			for range 3 { // the enclave may repeat itself
				if code, b := post("enclave-token-0123456789abcdef"); code != 200 || b != `{"result": true}` {
					t.Fatalf("enclave POST = %d %q", code, b)
				}
			}
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				t.Fatal("business received no event")
			}
			// The verification is recorded; its single change made a single event.
			_, vb := s.do(t, "GET", s.admin+"/admin/v1/travel-rule/verifications/64ab871b-14a3-47df-9b80-368e29fe8180", adminToken, nil, 200)
			var v struct {
				Status    string
				Callbacks []struct{ Duplicates int }
			}
			json.Unmarshal(vb, &v)
			if v.Status != "DENIED" || len(v.Callbacks) != 1 || v.Callbacks[0].Duplicates != 2 {
				t.Fatalf("verification = %s", vb)
			}
			if st := s.settled(t); len(st) != 1 || st[0] != "delivered" {
				t.Fatalf("deliveries = %v, want one delivered", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(events) != 1 {
				t.Fatalf("business got %d events, want 1: %+v", len(events), events)
			}
			e := events[0]
			if e.Type != "travel_rule.verification_updated" || e.ID == "" || e.Timestamp == "" {
				t.Fatalf("event = %+v", e)
			}
		})
	}
}
