package travelrule

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/store"
)

// StoreForTest stores bodies in one group commit, as Accept does, and leaves them pending:
// nothing folds them until the test does (the service is not running).
func (s *Service) StoreForTest(ctx context.Context, bodies ...[]byte) error {
	items := make([]item, len(bodies))
	for i, b := range bodies {
		it, err := s.prepare(Record{ID: uuid.Must(uuid.NewV7()).String(), ReceivedAt: time.Now().UTC(), Body: b, Size: int64(len(b))})
		if err != nil {
			return err
		}
		items[i] = it
	}
	_, err := s.storeBatch(ctx, items)
	return err
}

// FoldForTest folds uuids as the folder does (refoldAll), chunk verifications per
// transaction. Not for concurrent use.
func (s *Service) FoldForTest(ctx context.Context, uuids []string, chunk int) error {
	s.foldChunkSize = chunk
	defer func() { s.foldChunkSize = 0 }()
	return s.refoldAll(ctx, uuids)
}

// FoldChunksForTest folds uuids (sorted) chunk per transaction, whether or not they have
// callbacks pending.
func (s *Service) FoldChunksForTest(ctx context.Context, uuids []string, chunk int) error {
	for len(uuids) > 0 {
		c := uuids[:min(chunk, len(uuids))]
		uuids = uuids[len(c):]
		if err := s.foldInTx(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// DecodesKeptForTest is how many acknowledgements' decodes wait for their fold.
func (s *Service) DecodesKeptForTest() int {
	s.decoded.mu.Lock()
	defer s.decoded.mu.Unlock()
	return s.decoded.n
}

// SpillMaxForTest lowers the spool's backlog bound for spills (spillMax); call it before Run.
func (s *Service) SpillMaxForTest(n int64) { s.spillMax = n }

// HoldReplayForTest keeps the spool's replay from starting until release is called.
func (s *Service) HoldReplayForTest() (release func()) {
	s.replayMu.Lock()
	return s.replayMu.Unlock
}

// ReplayFromFileForTest is how many records the replay read back from the spool file (not
// from the items this process kept when it spooled them).
func (s *Service) ReplayFromFileForTest() int64 { return s.replayFromFile.Load() }

// SpoolBacklogForTest is how many records the spool holds unreplayed.
func (s *Service) SpoolBacklogForTest() int64 { return s.spoolBacklog() }

// SpoolV1ForTest appends r to the spool file in dir as a "TRS1" frame, as the spool wrote it
// before "TRS2" (JSON entry, body sealed with the spool's own associated data).
func SpoolV1ForTest(dir string, keys Sealer, r Record) error {
	body, err := keys.Seal(r.Body, []byte("travelrule spool "+r.ID))
	if err != nil {
		return err
	}
	payload, err := json.Marshal(spoolEntry{ID: r.ID, ReceivedAt: store.Micros(r.ReceivedAt), Truncated: r.Truncated, Size: r.Size, Body: body})
	if err != nil {
		return err
	}
	frame := make([]byte, frameHead, frameHead+len(payload))
	copy(frame, "TRS1")
	binary.BigEndian.PutUint32(frame[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[8:], crc32.Checksum(payload, crcTable))
	f, err := os.OpenFile(filepath.Join(dir, spoolName), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(frame, payload...)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SpoolForTest appends r to the spool in dir as toSpool does ("TRS2", body sealed for the
// inbox), as a process that stopped before its replay would have left it.
func SpoolForTest(dir string, keys Sealer, r Record) error {
	sealed, err := keys.Seal(r.Body, bodyAD(r.ID))
	if err != nil {
		return err
	}
	sp, err := OpenSpool(dir, keys)
	if err != nil {
		return err
	}
	if err := sp.Append(r, sealed); err != nil {
		sp.Close()
		return fmt.Errorf("append: %w", err)
	}
	return sp.Close()
}

// SpoolKeys is the keyring the tests seal with (runService's, and the spool tests').
var SpoolKeys = spoolKeys
