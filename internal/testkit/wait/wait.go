// Package wait is the test kit's one wait-for-condition helper: a test polls a condition with
// a deadline rather than sleeping in place of synchronisation. It imports nothing of vaspgate,
// so every package's tests (internal ones included) can use it.
package wait

import (
	"testing"
	"time"
)

// Default is how long For waits: generous, because the tests run in parallel with -race on
// a shared 2-core machine, where SQLite's pure-Go engine runs instrumented. A condition that
// holds returns at once; only a failing test waits this long.
const Default = 60 * time.Second

// For polls cond until it holds, failing t if Default passes first.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Default, what, cond)
}

// Within polls cond until it holds, failing t if timeout passes first.
func Within(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	// The poll interval starts short, for conditions that hold at once, and grows, so that a
	// condition querying a database or a server does not load the machine while it waits.
	poll := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(poll)
		poll = min(2*poll, 100*time.Millisecond)
	}
}
