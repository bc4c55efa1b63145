package travelrule

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Spool is the local, fsync'd file that keeps acknowledged callbacks while the database
// cannot take them. Appends are group-fsynced (one fsync for every append waiting at that
// moment); Replay hands the records back in append order and forgets a file only after its
// whole content was stored.
//
// Layout: <dir>/travelrule-spool.log receives appends; Replay renames it to
// travelrule-replay-<nanos>.log and drains replay files oldest first. A frame is "TRS1" |
// length (4) | CRC-32C (4) | payload (JSON spoolEntry, body sealed). A torn last frame can only be one that was never fsynced,
// hence never acknowledged, and is dropped.
type Spool struct {
	dir    string
	sealer Sealer

	mu      sync.Mutex // guards f, size and file rotation
	f       *os.File
	size    int64
	appends chan spoolAppend
	stop    chan struct{}
	done    chan struct{}
}

type spoolAppend struct {
	frame []byte
	done  chan error
}

type spoolEntry struct {
	ID         string `json:"id"`
	ReceivedAt int64  `json:"received_at"`
	Truncated  bool   `json:"truncated"`
	Size       int64  `json:"size"`
	Body       []byte `json:"body"`
}

var (
	spoolMagic = []byte("TRS1")
	crcTable   = crc32.MakeTable(crc32.Castagnoli)
)

const spoolName = "travelrule-spool.log"

// OpenSpool opens (creating) the spool in dir. Bodies are sealed with sealer when not nil.
func OpenSpool(dir string, sealer Sealer) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("travelrule: spool dir: %w", err)
	}
	s := &Spool{dir: dir, sealer: sealer, appends: make(chan spoolAppend, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.openCurrent(); err != nil {
		return nil, err
	}
	go s.writer()
	return s, nil
}

func (s *Spool) openCurrent() error {
	f, err := os.OpenFile(filepath.Join(s.dir, spoolName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("travelrule: open spool: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("travelrule: stat spool: %w", err)
	}
	s.f, s.size = f, st.Size()
	return syncDir(s.dir)
}

// Close stops the writer and closes the file; appends after Close fail.
func (s *Spool) Close() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// Append writes r and returns once it is on disk (fsync'd).
func (s *Spool) Append(r Record) error {
	body := r.Body
	if s.sealer != nil {
		var err error
		if body, err = s.sealer.Seal(r.Body, []byte("travelrule spool "+r.ID)); err != nil {
			return fmt.Errorf("travelrule: seal spool entry: %w", err)
		}
	}
	payload, err := json.Marshal(spoolEntry{ID: r.ID, ReceivedAt: store.Micros(r.ReceivedAt), Truncated: r.Truncated, Size: r.Size, Body: body})
	if err != nil {
		return fmt.Errorf("travelrule: encode spool entry: %w", err)
	}
	frame := make([]byte, 12, 12+len(payload))
	copy(frame, spoolMagic)
	binary.BigEndian.PutUint32(frame[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[8:], crc32.Checksum(payload, crcTable))
	frame = append(frame, payload...)
	a := spoolAppend{frame: frame, done: make(chan error, 1)}
	select {
	case s.appends <- a:
	case <-s.stop:
		return errors.New("travelrule: spool closed")
	}
	return <-a.done
}

// writer is the group commit of the spool: it takes every append waiting, writes them, and
// fsyncs once for all.
func (s *Spool) writer() {
	defer close(s.done)
	for {
		var batch []spoolAppend
		select {
		case a := <-s.appends:
			batch = append(batch, a)
		case <-s.stop:
			return
		}
	drain:
		for len(batch) < 512 {
			select {
			case a := <-s.appends:
				batch = append(batch, a)
			default:
				break drain
			}
		}
		s.mu.Lock()
		var err error
		var n int64
		for _, a := range batch {
			var w int
			w, err = s.f.Write(a.frame)
			n += int64(w)
			if err != nil {
				break
			}
		}
		if err == nil {
			err = s.f.Sync()
		}
		s.size += n
		s.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("travelrule: spool write: %w", err)
		}
		for _, a := range batch {
			a.done <- err
		}
	}
}

// Pending reports whether the spool holds records not yet replayed.
func (s *Spool) Pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size > 0 {
		return true
	}
	files, _ := filepath.Glob(filepath.Join(s.dir, "travelrule-replay-*.log"))
	return len(files) > 0
}

// Replay hands every spooled record to store, in append order, in chunks of at most chunk
// records. A file is removed only after store accepted all of it; on error Replay stops and
// the rest stays for the next call (store must therefore be idempotent).
func (s *Spool) Replay(chunk int, store func([]Record) error) (int, error) {
	s.mu.Lock()
	if s.size > 0 {
		if err := s.f.Close(); err != nil {
			s.mu.Unlock()
			return 0, fmt.Errorf("travelrule: spool rotate: %w", err)
		}
		name := filepath.Join(s.dir, fmt.Sprintf("travelrule-replay-%020d.log", time.Now().UnixNano()))
		if err := os.Rename(filepath.Join(s.dir, spoolName), name); err != nil {
			s.mu.Unlock()
			return 0, fmt.Errorf("travelrule: spool rotate: %w", err)
		}
		if err := s.openCurrent(); err != nil {
			s.mu.Unlock()
			return 0, err
		}
	}
	s.mu.Unlock()
	files, err := filepath.Glob(filepath.Join(s.dir, "travelrule-replay-*.log"))
	if err != nil {
		return 0, err
	}
	slices.Sort(files)
	total := 0
	for _, name := range files {
		recs, err := s.read(name)
		if err != nil {
			return total, err
		}
		for len(recs) > 0 {
			n := min(chunk, len(recs))
			if err := store(recs[:n]); err != nil {
				return total, err
			}
			total += n
			recs = recs[n:]
		}
		if err := os.Remove(name); err != nil {
			return total, fmt.Errorf("travelrule: spool remove: %w", err)
		}
		if err := syncDir(s.dir); err != nil {
			return total, err
		}
	}
	return total, nil
}

// read decodes the frames of one file, stopping at a torn or corrupt tail.
func (s *Spool) read(name string) ([]Record, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("travelrule: spool read: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []Record
	head := make([]byte, 12)
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			return out, nil
		}
		if string(head[:4]) != string(spoolMagic) {
			return out, nil
		}
		n := binary.BigEndian.Uint32(head[4:])
		if n > 64<<20 {
			return out, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil || crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(head[8:]) {
			return out, nil
		}
		var e spoolEntry
		if err := json.Unmarshal(payload, &e); err != nil {
			return out, nil
		}
		body := e.Body
		if s.sealer != nil {
			if body, err = s.sealer.Open(e.Body, []byte("travelrule spool "+e.ID)); err != nil {
				return nil, fmt.Errorf("travelrule: spool entry %s does not open: %w", e.ID, err)
			}
		}
		out = append(out, Record{ID: e.ID, ReceivedAt: store.FromMicros(e.ReceivedAt), Truncated: e.Truncated, Size: e.Size, Body: body})
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("travelrule: sync spool dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("travelrule: sync spool dir: %w", err)
	}
	return nil
}
