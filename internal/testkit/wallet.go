package testkit

import (
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/strkey"

	"github.com/vaspgate/vaspgate/internal/callback/callbacktest"
)

// Received is one callback as the wallet got it.
type Received struct {
	Path string
	Body []byte
}

// Wallet is a loopback wallet backend: it verifies the Stellar Signature header of every
// callback as a wallet does (stellar-seps.md 4.7) and records the valid ones in arrival order.
// While down it answers 503 and records nothing.
type Wallet struct {
	URL  string
	pub  ed25519.PublicKey
	host string
	t    testing.TB

	down    atomic.Bool
	mu      sync.Mutex
	got     []Received
	changed chan struct{}
}

// NewWallet starts a wallet that trusts the anchor's SIGNING_KEY (a G… address).
func NewWallet(t testing.TB, signingKey string) *Wallet {
	raw, err := strkey.Decode(strkey.VersionByteAccountID, signingKey)
	if err != nil {
		t.Fatalf("testkit: signing key: %v", err)
	}
	w := &Wallet{pub: ed25519.PublicKey(raw), t: t, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	u, _ := url.Parse(srv.URL)
	w.host = u.Host
	return w
}

// SetDown makes the wallet refuse (503) or accept callbacks.
func (w *Wallet) SetDown(down bool) { w.down.Store(down) }

func (w *Wallet) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if w.down.Load() {
		http.Error(rw, "down", http.StatusServiceUnavailable)
		return
	}
	if err := callbacktest.VerifyStellar(r.Header.Get("Signature"), w.host, body, w.pub, time.Now()); err != nil {
		w.t.Errorf("wallet: callback to %s with a bad signature: %v", r.URL.Path, err)
		http.Error(rw, err.Error(), http.StatusUnauthorized)
		return
	}
	w.mu.Lock()
	w.got = append(w.got, Received{Path: r.URL.Path, Body: body})
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

// Got returns the callbacks received so far on path (all paths when empty).
func (w *Wallet) Got(path string) []Received {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Received
	for _, r := range w.got {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Wait waits until n callbacks arrived on path and returns them; it fails the test after
// timeout.
func (w *Wallet) Wait(path string, n int, timeout time.Duration) []Received {
	w.t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ch := w.changed
		w.mu.Unlock()
		if got := w.Got(path); len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline:
			got := w.Got(path)
			w.t.Fatalf("wallet: %d callbacks on %s after %v, want %d", len(got), path, timeout, n)
			return got
		}
	}
}
