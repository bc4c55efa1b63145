package sendinganchor

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stellar/go-stellar-sdk/keypair"
)

// MaxCallbackAge is how old a callback's signature time may be: SEP-12 and SEP-31 tell the
// receiver to refuse one older than a minute or two.
const MaxCallbackAge = 2 * time.Minute

// VerifySignature checks a callback's Signature header as SEP-31 ("Callback signature",
// shared with SEP-6, SEP-12 and SEP-24) tells the receiver to: the header is
// "t=<unix seconds>, s=<base64 ed25519 signature>", the signed bytes are
// "<t>.<host>.<body>" where host is the host of the URL the receiver registered (with its
// port when the URL names one), the key is SIGNING_KEY from the anchor's stellar.toml, and
// a signature older than MaxCallbackAge (or from the future beyond it) is refused.
func VerifySignature(header, host string, body []byte, signingKey string, now time.Time) error {
	if header == "" {
		return errors.New("no Signature header")
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=") // the first "=": base64 ends in "="
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "s":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		return fmt.Errorf("signature header %q lacks t= or s=", header)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("signature time %q is not a number", ts)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > MaxCallbackAge || age < -MaxCallbackAge {
		return fmt.Errorf("signature time %s is %s away from now", time.Unix(sec, 0).UTC(), age)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	if signingKey == "" {
		return errors.New("no SIGNING_KEY trusted yet")
	}
	kp, err := keypair.ParseAddress(signingKey)
	if err != nil {
		return fmt.Errorf("SIGNING_KEY: %w", err)
	}
	payload := append([]byte(ts+"."+host+"."), body...)
	if err := kp.Verify(payload, raw); err != nil {
		return fmt.Errorf("signature does not verify with %s for host %s: %w", signingKey, host, err)
	}
	return nil
}

// Callback is one request the receiver got.
type Callback struct {
	Path string
	Body []byte
	// Err is the signature check's result (nil: signed by SIGNING_KEY for this host).
	Err error
}

// Receiver is the sending anchor's callback server on loopback: it verifies and keeps every
// callback in arrival order, and can be taken down (answering 503) to play an endpoint that
// is away.
type Receiver struct {
	srv        *httptest.Server
	signingKey string

	mu      sync.Mutex
	got     []Callback
	down    bool
	refused int
	changed chan struct{} // closed and replaced on every arrival or refusal
}

// NewReceiver starts a callback server. It trusts no key until Trust: a callback before
// that fails verification.
func NewReceiver() *Receiver {
	r := &Receiver{changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// Trust sets the key callbacks must be signed with: the receiving anchor's SIGNING_KEY as
// read from its stellar.toml (Anchor.TOML), never from a callback.
func (r *Receiver) Trust(signingKey string) {
	r.mu.Lock()
	r.signingKey = signingKey
	r.mu.Unlock()
}

// Close stops the server.
func (r *Receiver) Close() { r.srv.Close() }

// URL is the callback URL for path (e.g. "/sep31").
func (r *Receiver) URL(path string) string { return r.srv.URL + path }

// Host is the host:port callbacks are signed for.
func (r *Receiver) Host() string { u, _ := url.Parse(r.srv.URL); return u.Host }

// SetDown makes the receiver answer 503 (down) or accept again.
func (r *Receiver) SetDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

func (r *Receiver) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		r.refused++
		r.notify()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	verr := VerifySignature(req.Header.Get("Signature"), r.Host(), body, r.signingKey, time.Now())
	r.got = append(r.got, Callback{Path: req.URL.Path, Body: body, Err: verr})
	r.notify()
	if verr != nil {
		// SEP-31: a callback whose signature does not verify is not acted on.
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// wait blocks until ok holds under the lock or ctx ends.
func (r *Receiver) wait(ctx context.Context, ok func() bool) error {
	for {
		r.mu.Lock()
		done, ch := ok(), r.changed
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitRefused waits until the receiver, while down, has refused at least n requests.
func (r *Receiver) WaitRefused(ctx context.Context, n int) error {
	if err := r.wait(ctx, func() bool { return r.refused >= n }); err != nil {
		return fmt.Errorf("sendinganchor: %d callbacks refused, want %d: %w", r.refused, n, err)
	}
	return nil
}

// Wait returns the first n callbacks received on path, in arrival order, once they are
// there.
func (r *Receiver) Wait(ctx context.Context, path string, n int) ([]Callback, error) {
	var out []Callback
	err := r.wait(ctx, func() bool {
		out = out[:0]
		for _, c := range r.got {
			if c.Path == path {
				out = append(out, c)
			}
		}
		return len(out) >= n
	})
	if err != nil {
		return out, fmt.Errorf("sendinganchor: %d callbacks on %s, want %d: %w", len(out), path, n, err)
	}
	return out[:n], nil
}

// All returns every callback received on path so far.
func (r *Receiver) All(path string) []Callback {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Callback
	for _, c := range r.got {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}
