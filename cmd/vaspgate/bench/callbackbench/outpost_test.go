package callbackbench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// outpostSign signs body as Outpost's documentation says its default webhook mode does:
// hex(HMAC-SHA256(secret, body)), the whole secret as the key.
func outpostSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestVerifyOutpost(t *testing.T) {
	t.Parallel()
	const secret = "whsec_0123456789abcdef0123456789abcdef"
	body := []byte(`{"i":7,"s":3,"n":2}`)
	good := outpostSign(secret, body)
	for _, tc := range []struct {
		name   string
		header string
		body   []byte
		secret string
		want   bool
	}{
		{"one signature", "v0=" + good, body, secret, true},
		{"rotation, current first", "v0=" + good + "," + outpostSign("whsec_old", body), body, secret, true},
		{"rotation, previous matches", "v0=" + outpostSign("whsec_new", body) + "," + good, body, secret, true},
		{"upper-case hex", "v0=" + strings.ToUpper(good), body, secret, true},
		{"body changed", "v0=" + good, []byte(`{"i":7,"s":3,"n":3}`), secret, false},
		{"other secret", "v0=" + good, body, "whsec_other", false},
		{"prefix stripped from the key", "v0=" + outpostSign(strings.TrimPrefix(secret, "whsec_"), body), body, secret, false},
		{"no v0=", good, body, secret, false},
		{"other scheme", "v1=" + good, body, secret, false},
		{"missing", "", body, secret, false},
		{"not hex", "v0=zz" + good[2:], body, secret, false},
		{"no secret known", "v0=" + outpostSign("", body), body, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verifyOutpost(tc.header, tc.body, tc.secret); got != tc.want {
				t.Fatalf("verifyOutpost(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// fakeOutpost answers the part of Outpost's API the bench uses, as its documentation
// describes it (admin API key as a bearer token; tenant upsert; webhook destination with
// the secret given; publish with destination_id answered 202), and delivers each event's
// data signed as the default webhook mode does. It delivers before answering and in
// reverse order within every pair of events of a destination, so the run sees
// out-of-order deliveries; badSecret signs with a secret other than the destination's.
type fakeOutpost struct {
	t          *testing.T
	key        string
	badSecret  bool
	mu         sync.Mutex
	dests      map[string][2]string // id → URL, secret
	held       map[string][]byte    // destination id → the event held back
	tenantGone bool
}

func (f *fakeOutpost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v1")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/tenants/"):
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{}`))
	case r.Method == http.MethodDelete && strings.HasPrefix(path, "/tenants/"):
		f.tenantGone = true
		_, _ = w.Write([]byte(`{"success":true}`))
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/destinations"):
		var d struct {
			Type        string
			Topics      []string
			Config      struct{ URL string }
			Credentials struct{ Secret string }
		}
		if json.NewDecoder(r.Body).Decode(&d) != nil || d.Type != "webhook" || len(d.Topics) == 0 || d.Config.URL == "" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		id := "des_" + randomHex(4)
		f.dests[id] = [2]string{d.Config.URL, d.Credentials.Secret}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
	case r.Method == http.MethodPost && path == "/publish":
		var e struct {
			TenantID      string          `json:"tenant_id"`
			DestinationID string          `json:"destination_id"`
			Topic         string          `json:"topic"`
			Data          json.RawMessage `json:"data"`
		}
		if json.NewDecoder(r.Body).Decode(&e) != nil || e.TenantID == "" || e.Topic == "" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		if held, ok := f.held[e.DestinationID]; ok {
			delete(f.held, e.DestinationID)
			f.deliver(e.DestinationID, e.Data)
			f.deliver(e.DestinationID, held)
		} else {
			f.held[e.DestinationID] = e.Data
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"evt","duplicate":false,"destination_ids":["` + e.DestinationID + `"]}`))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeOutpost) deliver(dest string, data []byte) {
	d, ok := f.dests[dest]
	if !ok {
		f.t.Errorf("publish to unknown destination %q", dest)
		return
	}
	secret := d[1]
	if f.badSecret {
		secret += "x"
	}
	req, _ := http.NewRequest(http.MethodPost, d[0], bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Outpost-Signature", "v0="+outpostSign(secret, data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Errorf("deliver: %v", err)
		return
	}
	resp.Body.Close()
}

func TestRunOutpost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                       string
		badSecret                  bool
		timeout                    time.Duration
		wantLost, wantOOO, wantBad int
	}{
		// 40 events over 2 subjects and 2 receivers: each destination carries one subject,
		// 20 events delivered as n2, n1, n4, n3, …: 10 overtakings per subject.
		{name: "signed, pairs reversed", wantOOO: 20},
		// Every delivery refused: nothing acknowledged. The fake delivers before it answers
		// the publish, so nothing is in flight once the producers are done.
		{name: "wrong secret", badSecret: true, timeout: time.Millisecond, wantLost: 40, wantBad: 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeOutpost{t: t, key: "k", badSecret: tc.badSecret, dests: map[string][2]string{}, held: map[string][]byte{}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			r, err := Run(context.Background(), Options{Peer: PeerOutpost, PeerURL: srv.URL, PeerAPIKey: "k",
				Events: 40, Subjects: 2, Receivers: 2, Producers: 2, PayloadBytes: 1024, Timeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			if r.Lost != tc.wantLost || r.OutOfOrder != tc.wantOOO || int(r.BadSignatures) != tc.wantBad || r.Duplicated != 0 || r.Requests != 40 {
				t.Fatalf("%+v", r)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.tenantGone {
				t.Error("the run left its tenant")
			}
		})
	}
}

func TestRunOutpostRefused(t *testing.T) {
	t.Parallel()
	f := &fakeOutpost{t: t, key: "k", dests: map[string][2]string{}, held: map[string][]byte{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	_, err := Run(context.Background(), Options{Peer: PeerOutpost, PeerURL: srv.URL, PeerAPIKey: "wrong", Events: 4, Subjects: 2})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want the tenant upsert's 401", err)
	}
}
