package travelrule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/vaspgate/vaspgate/internal/store"
)

// EventType is the business event recorded on every change of a verification.
const EventType = "travel_rule.verification_updated"

// ProcessArgs is the job that (re)derives the records of some verifications from their
// stored callbacks. It is idempotent: running it twice changes nothing the second time.
type ProcessArgs struct {
	UUIDs []string `json:"uuids"`
}

// Kind implements river.JobArgs.
func (ProcessArgs) Kind() string { return "travel_rule_process" }

type processWorker struct {
	river.WorkerDefaults[ProcessArgs]
	s *Service
}

func (w *processWorker) Work(ctx context.Context, j *river.Job[ProcessArgs]) error {
	return w.s.refoldAll(ctx, j.Args.UUIDs)
}

// refoldChunk is how many verifications one processing transaction folds: enough to share
// the commit and the statements (foldChunk). On SQLite, whose one connection the
// acknowledgements wait for while a processing transaction holds it, a smaller chunk keeps
// their p99 down (issue 16). Tests set foldChunkSize.
func (s *Service) refoldChunk() int {
	if s.foldChunkSize > 0 {
		return s.foldChunkSize
	}
	if s.db.Dialect() == store.SQLite {
		return 4
	}
	return 16
}

// refoldAll folds the given verifications, refoldChunk per transaction, in uuid order (so
// concurrent transactions lock rows in the same order).
func (s *Service) refoldAll(ctx context.Context, uuids []string) error {
	uuids = slices.Sorted(slices.Values(uuids))
	uuids = slices.Compact(uuids)
	// Whatever happens, the decodes kept for these verifications are not needed after this:
	// the folds below took theirs, and those without callbacks pending were folded already.
	defer s.decoded.drop(uuids)
	uuids, err := s.withPending(ctx, uuids)
	if err != nil {
		return err
	}
	// A chunk that fails does not hold back the chunks after it (the caller retries them all;
	// folding twice changes nothing).
	var errs []error
	for len(uuids) > 0 && ctx.Err() == nil {
		chunk := uuids[:min(s.refoldChunk(), len(uuids))]
		uuids = uuids[len(chunk):]
		if err := s.foldInTx(ctx, chunk); err != nil {
			errs = append(errs, fmt.Errorf("travelrule: process verifications %s..%s: %w", chunk[0], chunk[len(chunk)-1], err))
		}
	}
	return errors.Join(append(errs, ctx.Err())...)
}

// foldInTx folds chunk in a transaction of its own (foldChunk), again when a concurrent fold
// created one of its verifications meanwhile: it exists now, and the next attempt locks it.
// Each such race leaves one verification fewer of the chunk to create, so len(chunk) tries
// after the first always end it (a fixed three did not, with three folds of overlapping
// chunks racing on 60 new verifications: TestConcurrentChunkFolds failed once in CI).
func (s *Service) foldInTx(ctx context.Context, chunk []string) error {
	fold := func(tx *store.Tx) error { return s.foldChunk(ctx, tx, chunk) }
	err := s.db.InTx(ctx, fold)
	for try := 0; errors.Is(err, errFoldRace) && try < len(chunk); try++ {
		err = s.db.InTx(ctx, fold)
	}
	return err
}

// withPending keeps the verifications that have callbacks still pending. The others were
// folded, with every callback stored about them, by a job that ran after their callbacks were
// committed (a fold takes off the pending list only what it then reads: clearPending),
// so folding them again would change nothing. Under load this is what keeps processing
// cheap: the five callbacks of a verification come in different group commits, each with its
// own job, and the first job to run folds all those already committed; the later ones skip.
func (s *Service) withPending(ctx context.Context, uuids []string) ([]string, error) {
	if len(uuids) == 0 {
		return nil, nil
	}
	var out []string
	for chunk := range slices.Chunk(uuids, 500) {
		cond, args := oneOf(s.db.Dialect(), "verification_uuid", chunk)
		rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT verification_uuid FROM travel_rule_pending WHERE `+cond, args...)
		if err != nil {
			return nil, fmt.Errorf("travelrule: read pending callbacks: %w", err)
		}
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return nil, fmt.Errorf("travelrule: read pending callbacks: %w", err)
			}
			out = append(out, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("travelrule: read pending callbacks: %w", err)
		}
	}
	slices.Sort(out)
	return out, nil
}

func ivmsAD(id string) []byte { return []byte("travel_rule_verifications.ivms101 " + id) }

// stripIVMS101 removes data.ivms101 from a callback body, keeping everything else as sent
// (numbers as written). Bodies that do not parse are returned as nil: nothing of them is kept.
func stripIVMS101(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	if data, ok := m["data"].(map[string]any); ok {
		for k := range data {
			if bytes.EqualFold([]byte(k), []byte("ivms101")) {
				delete(data, k)
			}
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return out
}

// Sweep processes the verifications that have callbacks still pending since before
// olderThan, and returns how many it processed.
func (s *Service) Sweep(ctx context.Context, olderThan time.Time) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT verification_uuid FROM travel_rule_pending
	WHERE received_at < ? LIMIT 1000`, store.Micros(olderThan))
	if err != nil {
		return 0, fmt.Errorf("travelrule: sweep: %w", err)
	}
	var uuids []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return 0, fmt.Errorf("travelrule: sweep: %w", err)
		}
		uuids = append(uuids, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("travelrule: sweep: %w", err)
	}
	if err := s.refoldAll(ctx, uuids); err != nil {
		return 0, err
	}
	return len(uuids), nil
}
