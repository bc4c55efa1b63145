package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
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
			biz := testkit.NewBusiness(t)
			biz.RequireAuth(callback.Auth{Type: callback.AuthAPIKey, Secret: "business-api-key"})

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
			biz.WaitEvents(t, 1, 30*time.Second)
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
			raw := biz.Events()
			if len(raw) != 1 {
				t.Fatalf("business got %d events, want 1: %s", len(raw), raw)
			}
			var e event
			if err := json.Unmarshal(raw[0], &e); err != nil {
				t.Fatalf("business event %s: %v", raw[0], err)
			}
			if e.Type != "travel_rule.verification_updated" || e.ID == "" || e.Timestamp == "" {
				t.Fatalf("event = %+v", e)
			}
		})
	}
}
