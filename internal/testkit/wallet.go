package testkit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
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
// A callback no trusted key signed fails the test and is answered 401. While down it answers
// 503 and records nothing.
type Wallet struct {
	URL  string
	host string
	t    testing.TB

	down    atomic.Bool
	mu      sync.Mutex
	keys    []ed25519.PublicKey
	got     []Received
	read    int // how many of got Next has returned
	changed chan struct{}
}

// NewWallet starts a wallet that trusts the anchor SIGNING_KEYs given (G… addresses); a
// test that learns the key later (from stellar.toml) adds it with Trust.
func NewWallet(t testing.TB, signingKeys ...string) *Wallet {
	w := &Wallet{t: t, changed: make(chan struct{})}
	for _, k := range signingKeys {
		w.Trust(k)
	}
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	u, _ := url.Parse(srv.URL)
	w.host = u.Host
	return w
}

// Host is the wallet's host:port, as an anchor's callback host allowlist names it.
func (w *Wallet) Host() string { return w.host }

// Trust adds an anchor SIGNING_KEY (a G… address) the wallet accepts callbacks signed with:
// instances of one deployment started with different seeds share one wallet.
func (w *Wallet) Trust(signingKey string) {
	w.t.Helper()
	raw, err := strkey.Decode(strkey.VersionByteAccountID, signingKey)
	if err != nil {
		w.t.Fatalf("testkit: signing key: %v", err)
	}
	w.mu.Lock()
	w.keys = append(w.keys, ed25519.PublicKey(raw))
	w.mu.Unlock()
}

// verify accepts a signature made by any trusted key; with none matching it returns the
// last key's error (with one key, that key's reason).
func (w *Wallet) verify(header string, body []byte) error {
	w.mu.Lock()
	keys := append([]ed25519.PublicKey(nil), w.keys...)
	w.mu.Unlock()
	err := errors.New("no trusted signing key")
	for _, pub := range keys {
		if err = callbacktest.VerifyStellar(header, w.host, body, pub, time.Now()); err == nil {
			return nil
		}
	}
	return err
}

// SetDown makes the wallet refuse (503) or accept callbacks.
func (w *Wallet) SetDown(down bool) { w.down.Store(down) }

func (w *Wallet) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if w.down.Load() {
		http.Error(rw, "down", http.StatusServiceUnavailable)
		return
	}
	if err := w.verify(r.Header.Get("Signature"), body); err != nil {
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

// until calls done each time a callback arrives (and once at first) until it returns true,
// and reports false if timeout passes first. done takes w.mu itself if it needs it.
func (w *Wallet) until(timeout time.Duration, done func() bool) bool {
	deadline := time.After(timeout)
	for {
		// Take the channel before looking, so an arrival after the look still wakes us.
		w.mu.Lock()
		ch := w.changed
		w.mu.Unlock()
		if done() {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// Wait waits until n callbacks arrived on path and returns them; it fails the test after
// timeout.
func (w *Wallet) Wait(path string, n int, timeout time.Duration) []Received {
	w.t.Helper()
	var got []Received
	if !w.until(timeout, func() bool { got = w.Got(path); return len(got) >= n }) {
		w.t.Fatalf("wallet: %d callbacks on %s after %v, want %d", len(got), path, timeout, n)
	}
	return got
}

// WaitContaining waits until a callback whose body contains want arrived (on any path) and
// returns the first such; it fails the test after timeout.
func (w *Wallet) WaitContaining(want string, timeout time.Duration) Received {
	w.t.Helper()
	var found Received
	ok := w.until(timeout, func() bool {
		for _, r := range w.Got("") {
			if bytes.Contains(r.Body, []byte(want)) {
				found = r
				return true
			}
		}
		return false
	})
	if !ok {
		w.t.Fatalf("wallet: no callback containing %q after %v", want, timeout)
	}
	return found
}

// Next waits for the first callback (on any path) that Next has not returned yet, in arrival
// order, and returns it; it fails the test after timeout. Tests that read callbacks one by
// one use it; Wait and Got see every callback regardless.
func (w *Wallet) Next(timeout time.Duration) Received {
	w.t.Helper()
	var r Received
	ok := w.until(timeout, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.read < len(w.got) {
			r = w.got[w.read]
			w.read++
			return true
		}
		return false
	})
	if !ok {
		w.t.Fatalf("wallet: no new callback after %v", timeout)
	}
	return r
}
