package travelrule

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// Spool is the local, fsync'd file that keeps acknowledged callbacks while the database
// cannot take them. Appends are group-fsynced (one fsync for every append waiting at that
// moment); Replay hands the records back in append order and forgets a file only after its
// whole content was stored.
//
// Layout: <dir>/travelrule-spool.log receives appends; Replay renames it to
// travelrule-replay-<nanos>.log and drains replay files oldest first. A frame is magic (4) |
// length (4) | CRC-32C (4) | payload. "TRS2" frames (written) hold a binary entry (see
// appendEntry) whose body is sealed exactly as the inbox stores it (bodyAD), so that the
// replay stores it without opening and sealing it again; "TRS1" frames (written before)
// hold a JSON spoolEntry whose body is sealed with the spool's own associated data, and are
// still read. A torn last frame can
// only be one that was never fsynced, hence never acknowledged: it is dropped, and cut off
// the file when the spool is opened, so that appends after a restart are not written behind
// it (the reader stops at the first bad frame).
type Spool struct {
	dir    string
	sealer Sealer

	mu   sync.Mutex // guards f, size and file rotation
	f    *os.File
	size int64
	// records and bytes are the frames appended and not yet replayed (Backlog): atomic, as
	// every acknowledgement in a burst reads them while the writer holds mu for its fsync.
	records, bytes atomic.Int64
	// arriving counts the appends between Append's start and their hand-over to the writer,
	// which waits a moment for them (see writer).
	arriving atomic.Int32
	appends  chan spoolAppend
	stop     chan struct{}
	done     chan struct{}
}

type spoolAppend struct {
	frame []byte
	done  chan error
}

// spoolEntry is the payload of a "TRS1" frame (read only).
type spoolEntry struct {
	ID         string `json:"id"`
	ReceivedAt int64  `json:"received_at"`
	Truncated  bool   `json:"truncated"`
	Size       int64  `json:"size"`
	Body       []byte `json:"body"`
}

var (
	spoolMagicV1 = []byte("TRS1")
	spoolMagic   = []byte("TRS2")
	crcTable     = crc32.MakeTable(crc32.Castagnoli)
)

const spoolName = "travelrule-spool.log"

// OpenSpool opens (creating) the spool in dir. Bodies are sealed with sealer when not nil.
func OpenSpool(dir string, sealer Sealer) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("travelrule: spool dir: %w", err)
	}
	s := &Spool{dir: dir, sealer: sealer, appends: make(chan spoolAppend, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.cutTornTail(); err != nil {
		return nil, err
	}
	if err := s.openCurrent(); err != nil {
		return nil, err
	}
	files, err := s.files(true)
	if err != nil {
		return nil, err
	}
	for _, name := range files {
		_, err := scanFrames(name, func(_ bool, payload []byte) bool {
			s.records.Add(1)
			s.bytes.Add(int64(frameHead + len(payload)))
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	go s.writer()
	return s, nil
}

// frameHead is the size of a frame's magic, length and checksum.
const frameHead = 12

// cutTornTail truncates the append file after its last whole frame (see Spool).
func (s *Spool) cutTornTail() error {
	name := filepath.Join(s.dir, spoolName)
	valid, err := scanFrames(name, func(bool, []byte) bool { return true })
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("travelrule: stat spool: %w", err)
	}
	if st.Size() == valid {
		return nil
	}
	f, err := os.OpenFile(name, os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("travelrule: cut spool tail: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(valid); err != nil {
		return fmt.Errorf("travelrule: cut spool tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("travelrule: cut spool tail: %w", err)
	}
	return nil
}

// files lists the replay files, oldest first, and with current the append file after them.
func (s *Spool) files(current bool) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(s.dir, "travelrule-replay-*.log"))
	if err != nil {
		return nil, fmt.Errorf("travelrule: spool files: %w", err)
	}
	slices.Sort(files)
	if current {
		files = append(files, filepath.Join(s.dir, spoolName))
	}
	return files, nil
}

// Backlog is what the spool holds that was not replayed yet: records and bytes on disk.
func (s *Spool) Backlog() (records, bytes int64) {
	return s.records.Load(), s.bytes.Load()
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

// Append writes r and returns once it is on disk (fsync'd). sealed is r.Body sealed for the
// inbox (Service.seal with bodyAD(r.ID); r.Body itself when the spool has no sealer): the
// spool stores it as is, and the replay hands it back beside the opened body.
func (s *Spool) Append(r Record, sealed []byte) error {
	s.arriving.Add(1)
	handed := false
	defer func() {
		if !handed {
			s.arriving.Add(-1)
		}
	}()
	if len(r.ID) > 0xffff {
		return fmt.Errorf("travelrule: spool entry id of %d bytes", len(r.ID))
	}
	frame := make([]byte, frameHead, frameHead+entryFixed+len(r.ID)+len(sealed))
	copy(frame, spoolMagic)
	frame = appendEntry(frame, r, sealed)
	payload := frame[frameHead:]
	binary.BigEndian.PutUint32(frame[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[8:], crc32.Checksum(payload, crcTable))
	a := spoolAppend{frame: frame, done: make(chan error, 1)}
	select {
	case s.appends <- a:
		handed = true
		s.arriving.Add(-1)
	case <-s.stop:
		return errors.New("travelrule: spool closed")
	}
	return <-a.done
}

// entryFixed is the size of a "TRS2" entry's fixed fields: id length (2), received at (8,
// unix micros), flags (1: truncated), size (8).
const entryFixed = 2 + 8 + 1 + 8

// appendEntry appends r's "TRS2" entry to b: the fixed fields around the id, then the sealed
// body to the end of the payload. A binary entry instead of JSON spares the base64 of the
// body both ways (issue 16, sixth pass).
func appendEntry(b []byte, r Record, sealed []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.ID)))
	b = append(b, r.ID...)
	b = binary.BigEndian.AppendUint64(b, uint64(store.Micros(r.ReceivedAt)))
	var flags byte
	if r.Truncated {
		flags = 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	return append(b, sealed...)
}

// entryID returns the id of a "TRS2" entry, or false if the payload is too short for it.
func entryID(p []byte) ([]byte, bool) {
	if len(p) < entryFixed {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(p))
	if len(p) < entryFixed+n {
		return nil, false
	}
	return p[2 : 2+n], true
}

// parseEntry decodes a "TRS2" entry; the sealed body is copied out of p (scanFrames reuses it).
func parseEntry(p []byte) (r Record, sealed []byte, ok bool) {
	id, ok := entryID(p)
	if !ok {
		return Record{}, nil, false
	}
	f := p[2+len(id):]
	r = Record{
		ID:         string(id),
		ReceivedAt: store.FromMicros(int64(binary.BigEndian.Uint64(f))),
		Truncated:  f[8]&1 != 0,
		Size:       int64(binary.BigEndian.Uint64(f[9:])),
	}
	return r, bytes.Clone(f[17:]), true
}

// Group sizing. An fsync costs the process about 0.07 ms of CPU on this machine kind (ext4),
// a third of a spilled acknowledgement's, and in a burst the writer found about three
// appends waiting each time (issue 16, fifth pass). So it waits a little for a group:
// appends still being sealed and encoded (arriving) join if handed over after it yields once
// or twice, and a group smaller than spoolGroupMin waits up to spoolGroupWait (about half an
// fsync) for more. In alternating pairs on PostgreSQL (c=32, 10,000 callbacks) the wait took
// the acknowledgements from 6,783 to 8,151/s and from 8,640 to 10,714/s, and the burst's
// process CPU per callback from 0.197 to 0.169 and 0.166 to 0.154 ms; a lone append (the
// database down, a quiet moment) waits 0.3 ms more, within a budget of a second.
const (
	spoolGroupMin  = 16
	spoolGroupWait = 300 * time.Microsecond
)

// writer is the group commit of the spool: it takes every append waiting (see spoolGroupMin),
// writes them in one write, and fsyncs once for all.
func (s *Spool) writer() {
	defer close(s.done)
	var buf []byte
	for {
		var batch []spoolAppend
		select {
		case a := <-s.appends:
			batch = append(batch, a)
		case <-s.stop:
			return
		}
		for round := 0; ; round++ {
		drain:
			for len(batch) < 512 {
				select {
				case a := <-s.appends:
					batch = append(batch, a)
				default:
					break drain
				}
			}
			if round == 2 || len(batch) >= 512 || s.arriving.Load() == 0 {
				break
			}
			runtime.Gosched()
		}
		if len(batch) < spoolGroupMin {
			t := time.NewTimer(spoolGroupWait)
		gather:
			for len(batch) < spoolGroupMin {
				select {
				case a := <-s.appends:
					batch = append(batch, a)
				case <-t.C:
					break gather
				case <-s.stop:
					break gather
				}
			}
			t.Stop()
		}
		buf = buf[:0]
		for _, a := range batch {
			buf = append(buf, a.frame...)
		}
		s.mu.Lock()
		w, err := s.f.Write(buf)
		n := int64(w)
		if err == nil {
			err = s.f.Sync()
		}
		s.size += n
		if err == nil {
			s.records.Add(int64(len(batch)))
			s.bytes.Add(n)
		}
		s.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("travelrule: spool write: %w", err)
		}
		for _, a := range batch {
			a.done <- err
		}
	}
}

// Pending reports whether the spool holds records not yet replayed: its backlog count, not a
// listing of the directory, as every group commit asks (Service.commit).
func (s *Spool) Pending() bool {
	return s.records.Load() > 0
}

// Replay hands every spooled record to store, in append order, in chunks of at most chunk
// records. A file is removed only after store accepted all of it; on error Replay stops and
// the rest stays for the next call (store must therefore be idempotent).
//
// A record for which known (when not nil) says true is handed over with its ID alone: the
// caller holds the rest (Service.spilled), so its entry is neither decoded nor opened.
func (s *Spool) Replay(chunk int, known func(id string) bool, store func([]Record) error) (int, error) {
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
	files, err := s.files(false)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, name := range files {
		recs, sizes, err := s.read(name, known)
		if err != nil {
			return total, err
		}
		// What was stored of this file leaves the backlog chunk by chunk, and comes back
		// if a later chunk fails: the whole file is read again next time.
		var gone, goneBytes int64
		for len(recs) > 0 {
			n := min(chunk, len(recs))
			if err := store(recs[:n]); err != nil {
				s.unreplayed(-gone, -goneBytes)
				return total, err
			}
			var b int64
			for _, z := range sizes[:n] {
				b += z
			}
			s.unreplayed(int64(n), b)
			gone, goneBytes = gone+int64(n), goneBytes+b
			total += n
			recs, sizes = recs[n:], sizes[n:]
		}
		if err := os.Remove(name); err != nil {
			s.unreplayed(-gone, -goneBytes)
			return total, fmt.Errorf("travelrule: spool remove: %w", err)
		}
		if err := syncDir(s.dir); err != nil {
			return total, err
		}
	}
	return total, nil
}

// unreplayed takes records and bytes off the backlog (negative: puts them back).
func (s *Spool) unreplayed(records, bytes int64) {
	s.records.Add(-records)
	s.bytes.Add(-bytes)
}

// scanFrames calls fn with the payload (and whether it is a "TRS1" frame) of each whole frame of the file name (the slice is
// reused), until fn returns false or a torn or corrupt frame; it returns the length of the
// frames read.
func scanFrames(name string, fn func(v1 bool, payload []byte) bool) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("travelrule: spool read: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	head := make([]byte, frameHead)
	var payload []byte
	var valid int64
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			return valid, nil
		}
		v1 := string(head[:4]) == string(spoolMagicV1)
		if !v1 && string(head[:4]) != string(spoolMagic) {
			return valid, nil
		}
		n := binary.BigEndian.Uint32(head[4:])
		if n > 64<<20 {
			return valid, nil
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil || crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(head[8:]) {
			return valid, nil
		}
		valid += int64(frameHead) + int64(n)
		if !fn(v1, payload) {
			return valid, nil
		}
	}
}

// spoolIDPrefix starts every "TRS1" entry's JSON (spoolEntry's first field), so the id of a
// record the caller knows is read without decoding the entry.
var spoolIDPrefix = []byte(`{"id":"`)

// frameID returns the id at the start of a frame's payload without decoding the rest.
func frameID(v1 bool, payload []byte) ([]byte, bool) {
	if !v1 {
		return entryID(payload)
	}
	if !bytes.HasPrefix(payload, spoolIDPrefix) {
		return nil, false
	}
	rest := payload[len(spoolIDPrefix):]
	end := bytes.IndexByte(rest, '"')
	return rest[:max(end, 0)], end > 0
}

// read decodes the frames of one file, stopping at a torn or corrupt tail, and returns each
// record's frame size beside it. Records known says true of carry only their ID. A record
// of a "TRS2" frame carries its body opened and, in sealed, as the inbox stores it; one of a
// "TRS1" frame its body opened only (sealed nil: the replay seals it for the inbox).
func (s *Spool) read(name string, known func(id string) bool) ([]Record, []int64, error) {
	var out []Record
	var sizes []int64
	var openErr error
	_, err := scanFrames(name, func(v1 bool, payload []byte) bool {
		if known != nil {
			if id, ok := frameID(v1, payload); ok && known(string(id)) {
				out, sizes = append(out, Record{ID: string(id)}), append(sizes, int64(frameHead+len(payload)))
				return true
			}
		}
		var r Record
		if v1 {
			var e spoolEntry
			if err := json.Unmarshal(payload, &e); err != nil {
				return false
			}
			r = Record{ID: e.ID, ReceivedAt: store.FromMicros(e.ReceivedAt), Truncated: e.Truncated, Size: e.Size, Body: e.Body}
			if s.sealer != nil {
				var err error
				if r.Body, err = s.sealer.Open(e.Body, []byte("travelrule spool "+e.ID)); err != nil {
					openErr = fmt.Errorf("travelrule: spool entry %s does not open: %w", e.ID, err)
					return false
				}
			}
		} else {
			var ok bool
			if r, r.sealed, ok = parseEntry(payload); !ok {
				return false
			}
			r.Body = r.sealed
			if s.sealer != nil {
				var err error
				if r.Body, err = s.sealer.Open(r.sealed, bodyAD(r.ID)); err != nil {
					openErr = fmt.Errorf("travelrule: spool entry %s does not open: %w", r.ID, err)
					return false
				}
			}
		}
		out = append(out, r)
		sizes = append(sizes, int64(frameHead+len(payload)))
		return true
	})
	if openErr != nil {
		return nil, nil, openErr
	}
	return out, sizes, err
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
