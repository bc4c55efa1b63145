package callbackbench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The peer mode for Hookdeck Outpost (github.com/hookdeck/outpost): the same producers and
// receivers as Run, with Outpost's publish API between them instead of vaspgate's. Outpost
// is a running server the caller started (scripts/bench-outpost does); the run makes a
// tenant with one webhook destination per receiver, publishes each event to its subject's
// destination (POST /api/v1/publish, one event per request, destination_id set), and
// deletes the tenant after. Outpost delivers an event's data as the request body, so the
// receivers read event, subject and position back as they do for vaspgate; Outpost does not
// order per subject, which is what the out-of-order count shows.

// PeerOutpost names Hookdeck Outpost in Options.Peer.
const PeerOutpost = "outpost"

// outpostSignatureHeader is where Outpost's default webhook mode puts the signature (the
// default header prefix "x-outpost-"); the run assumes Outpost's default webhook settings.
const outpostSignatureHeader = "X-Outpost-Signature"

// outpostTopic is the topic every bench event is published under (destinations take "*").
const outpostTopic = "bench"

// runOutpost is Run for Options.Peer == PeerOutpost.
func runOutpost(ctx context.Context, o Options) (Result, error) {
	res := Result{Engine: PeerOutpost, Peer: PeerOutpost, Events: o.Events, Subjects: o.Subjects, Receivers: o.Receivers,
		FailShare: o.FailShare, Rate: o.Rate, ViaHTTP: true, Instances: 1, PayloadBytes: o.PayloadBytes}
	if o.PeerURL == "" {
		return res, fmt.Errorf("bench: peer %s: no URL", PeerOutpost)
	}
	c := &outpostClient{
		base:   strings.TrimSuffix(o.PeerURL, "/") + "/api/v1",
		apiKey: o.PeerAPIKey,
		http:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Producers * 2}, Timeout: time.Minute},
	}
	tr := newTracker(o.Events, o.Subjects)
	rcv, err := listenReceivers(o.Receivers)
	if err != nil {
		return res, err
	}
	defer rcv.close()

	tenant := "vaspgate-bench-" + randomHex(8)
	if err := c.do(ctx, http.MethodPut, "/tenants/"+tenant, nil, nil); err != nil {
		return res, fmt.Errorf("bench: outpost tenant: %w", err)
	}
	defer func() {
		// A fresh context: the run's may be done, and the tenant should go either way.
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.do(dctx, http.MethodDelete, "/tenants/"+tenant, nil, nil)
	}()
	secrets := make(map[string]string) // receiver host:port → its destination's signing secret
	var dests []string
	for _, u := range rcv.urls("/outpost") {
		secret := "whsec_" + randomHex(32)
		var d struct {
			ID string `json:"id"`
		}
		err := c.do(ctx, http.MethodPost, "/tenants/"+tenant+"/destinations", map[string]any{
			"type":        "webhook",
			"topics":      []string{"*"},
			"config":      map[string]string{"url": u},
			"credentials": map[string]string{"secret": secret},
		}, &d)
		if err != nil {
			return res, fmt.Errorf("bench: outpost destination: %w", err)
		}
		pu, _ := url.Parse(u)
		secrets[pu.Host] = secret
		dests = append(dests, d.ID)
	}
	rcv.serve(o.FailShare, tr, func(host string, h http.Header, body []byte) bool {
		return verifyOutpost(h.Get(outpostSignatureHeader), body, secrets[host])
	})

	publish := func(ctx context.Context, evs []pending) error {
		for _, e := range evs {
			err := c.do(ctx, http.MethodPost, "/publish", map[string]any{
				"tenant_id":      tenant,
				"destination_id": e.dest,
				"topic":          outpostTopic,
				"data":           json.RawMessage(e.body),
			}, nil)
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
		}
		return nil
	}
	start := time.Now()
	if err := produce(ctx, o, tr, dests, 1, publish); err != nil {
		return res, err
	}
	recorded := time.Since(start)
	tr.wait(ctx, o.Timeout)
	tr.fill(&res, start)
	res.EnqueueRate = float64(o.Events) / recorded.Seconds()
	res.Requests, res.Failed503, res.BadSignatures = rcv.requests.Load(), rcv.failed.Load(), rcv.badSig.Load()
	return res, nil
}

// outpostClient calls Outpost's API with the admin API key.
type outpostClient struct {
	base, apiKey string
	http         *http.Client
}

// do sends in as JSON (when not nil) and decodes a 2xx answer into out (when not nil).
func (c *outpostClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// verifyOutpost checks an Outpost webhook signature as its documentation for the default
// mode says: the header is "v0=" and one or more comma-separated signatures (more than one
// while a secret is rotated), each hex(HMAC-SHA256(secret, raw body)) with the whole secret,
// "whsec_" prefix included, as the key; one match, compared in constant time, is enough.
func verifyOutpost(header string, body []byte, secret string) bool {
	sigs, ok := strings.CutPrefix(header, "v0=")
	if !ok || secret == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Split(sigs, ",") {
		got, err := hex.DecodeString(strings.TrimSpace(s))
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// randomHex is n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
