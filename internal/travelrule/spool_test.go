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
	keys, err := seal.New(bytes.Repeat([]byte{3}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := OpenSpool(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 { // concurrent appends share fsyncs
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sp.Append(Record{ID: fmt.Sprintf("c%02d", i), ReceivedAt: time.Now(), Body: []byte("concurrent")}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 10 {
		if err := sp.Append(Record{ID: fmt.Sprintf("s%02d", i), ReceivedAt: time.Now(), Body: fmt.Appendf(nil, `{"n":%d}`, i), Size: 7}); err != nil {
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
	_, _ = f.Write([]byte("TRS1\x00\x00\x10\x00partial"))
	f.Close()

	sp, err = OpenSpool(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if !sp.Pending() {
		t.Fatal("spool reopened empty")
	}
	boom := errors.New("database down")
	calls := 0
	if _, err := sp.Replay(7, func([]Record) error { calls++; return boom }); !errors.Is(err, boom) {
		t.Fatalf("replay error %v", err)
	}
	if !sp.Pending() {
		t.Fatal("a failed replay forgot records")
	}
	var got []Record
	n, err := sp.Replay(7, func(rs []Record) error { got = append(got, rs...); return nil })
	if err != nil || n != 60 || len(got) != 60 {
		t.Fatalf("replayed %d (%d), err %v", n, len(got), err)
	}
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
