package travelrule

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/seal"
)

func TestSpoolReplaysInOrderAndDropsATornTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := spoolKeys(t)
	sp, err := OpenSpool(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 { // concurrent appends share fsyncs
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := appendSealed(sp, keys, Record{ID: fmt.Sprintf("c%02d", i), ReceivedAt: time.Now(), Body: []byte("concurrent")}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 10 {
		if err := appendSealed(sp, keys, Record{ID: fmt.Sprintf("s%02d", i), ReceivedAt: time.Now(), Body: fmt.Appendf(nil, `{"n":%d}`, i), Size: 7}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, spoolName))
	if bytes.Contains(raw, []byte(`{"n":1}`)) {
		t.Fatal("spooled body stored in clear")
	}
	// A crash in the middle of a write leaves a torn frame: it was never fsynced, so never
	// acknowledged, and must not stop the replay of what came before.
	f, _ := os.OpenFile(filepath.Join(dir, spoolName), os.O_APPEND|os.O_WRONLY, 0o600)
	_, _ = f.Write([]byte("TRS2\x00\x00\x10\x00partial"))
	f.Close()

	sp, err = OpenSpool(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if !sp.Pending() {
		t.Fatal("spool reopened empty")
	}
	if n, _ := sp.Backlog(); n != 60 {
		t.Fatalf("backlog %d records at open, want 60 (the torn frame is not one)", n)
	}
	// An append after the restart goes after the last whole frame (the torn one is cut off),
	// not behind the torn frame where the reader would never reach it.
	if err := appendSealed(sp, keys, Record{ID: "after", ReceivedAt: time.Now(), Body: []byte("after restart")}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("database down")
	calls := 0
	if _, err := sp.Replay(7, nil, func([]Record) error { calls++; return boom }); !errors.Is(err, boom) {
		t.Fatalf("replay error %v", err)
	}
	if !sp.Pending() {
		t.Fatal("a failed replay forgot records")
	}
	if n, _ := sp.Backlog(); n != 61 {
		t.Fatalf("backlog %d records after a failed replay, want 61", n)
	}
	// A chunk stored before a failure leaves the backlog, and comes back with the failure:
	// the file is read whole again next time.
	calls = 0
	if _, err := sp.Replay(7, nil, func([]Record) error {
		if calls++; calls == 3 {
			return boom
		}
		if n, _ := sp.Backlog(); n != 61-int64(7*(calls-1)) {
			t.Errorf("backlog %d records before chunk %d", n, calls)
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("replay error %v", err)
	}
	if n, _ := sp.Backlog(); n != 61 {
		t.Fatalf("backlog %d records after a replay failed half-way, want 61", n)
	}
	var got []Record
	known := func(id string) bool { return id == "s03" }
	n, err := sp.Replay(7, known, func(rs []Record) error { got = append(got, rs...); return nil })
	if err != nil || n != 61 || len(got) != 61 {
		t.Fatalf("replayed %d (%d), err %v", n, len(got), err)
	}
	if r := got[60]; r.ID != "after" || string(r.Body) != "after restart" {
		t.Fatalf("the record appended after the restart: %+v", r)
	}
	// The body comes back sealed as the inbox stores it, for the replay to store as is.
	if r := got[60]; r.sealed == nil {
		t.Fatal("record read back without its sealed body")
	} else if b, err := keys.Open(r.sealed, bodyAD(r.ID)); err != nil || string(b) != "after restart" {
		t.Fatalf("sealed body opens to %q, %v", b, err)
	}
	if n, b := sp.Backlog(); n != 0 || b != 0 {
		t.Fatalf("backlog %d records, %d bytes after a full replay", n, b)
	}
	// A record the caller holds comes with its id alone: neither decoded nor opened.
	if r := got[53]; r.ID != "s03" || r.Body != nil {
		t.Fatalf("known record handed over whole: %+v", r)
	}
	got[53] = Record{ID: "s03", ReceivedAt: time.Now(), Body: []byte(`{"n":3}`), Size: 7}
	for i := range 10 {
		r := got[50+i]
		if r.ID != fmt.Sprintf("s%02d", i) || string(r.Body) != fmt.Sprintf(`{"n":%d}`, i) || r.Size != 7 {
			t.Fatalf("record %d out of order or altered: %+v", i, r)
		}
	}
	if sp.Pending() {
		t.Fatal("spool still pending after a full replay")
	}
}

// appendSealed appends r as toSpool does: its body sealed for the inbox.
func appendSealed(sp *Spool, keys Sealer, r Record) error {
	sealed, err := keys.Seal(r.Body, bodyAD(r.ID))
	if err != nil {
		return err
	}
	return sp.Append(r, sealed)
}

// spoolKeys is the keyring the spool tests seal with.
func spoolKeys(t *testing.T) *seal.Keyring {
	t.Helper()
	keys, err := seal.New(bytes.Repeat([]byte{3}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// A spool left by the previous version ("TRS1" frames) is still replayed, whole and in
// order, also when the new version appended "TRS2" frames behind it.
func TestSpoolReplaysTRS1Frames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := spoolKeys(t)
	at := time.Date(2026, 11, 29, 21, 0, 0, 123000, time.UTC)
	mustV1(t, dir, keys, Record{ID: "old1", ReceivedAt: at, Body: []byte(`{"old":1}`), Size: 9})
	mustV1(t, dir, keys, Record{ID: "old2", ReceivedAt: at, Body: []byte(`{"old":2}`), Size: 900, Truncated: true})
	sp, err := OpenSpool(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if n, _ := sp.Backlog(); n != 2 {
		t.Fatalf("backlog %d records at open, want 2", n)
	}
	if err := appendSealed(sp, keys, Record{ID: "new1", ReceivedAt: at, Body: []byte(`{"new":1}`), Size: 9}); err != nil {
		t.Fatal(err)
	}
	var got []Record
	known := func(id string) bool { return id == "old1" }
	if n, err := sp.Replay(10, known, func(rs []Record) error { got = append(got, rs...); return nil }); err != nil || n != 3 {
		t.Fatalf("replayed %d, err %v", n, err)
	}
	if r := got[0]; r.ID != "old1" || r.Body != nil {
		t.Fatalf("known TRS1 record handed over whole: %+v", r)
	}
	if r := got[1]; r.ID != "old2" || string(r.Body) != `{"old":2}` || r.Size != 900 || !r.Truncated || !r.ReceivedAt.Equal(at) || r.sealed != nil {
		t.Fatalf("TRS1 record read back: %+v", r)
	}
	if r := got[2]; r.ID != "new1" || string(r.Body) != `{"new":1}` || r.Size != 9 || r.Truncated || !r.ReceivedAt.Equal(at) || r.sealed == nil {
		t.Fatalf("TRS2 record read back: %+v", r)
	}
}

func mustV1(t *testing.T, dir string, keys Sealer, r Record) {
	t.Helper()
	if err := SpoolV1ForTest(dir, keys, r); err != nil {
		t.Fatal(err)
	}
}
