package travelrule

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// foldAnswers asks the enclave one question per verification (ask) and folds each answer in
// as the callback it stands for (toCallback: the callback body, or nil while the answer
// holds nothing final, and the outcome to record). The callback goes through Accept like a
// real one, so its natural key makes a later real callback a repeat or a revision, never a
// second effect. Every question is recorded as a call; it returns how many answers were
// folded in. Reconciliation of originator results and the beneficiary's Transaction Status
// Query share it.
func (s *Service) foldAnswers(ctx context.Context, ids []string, api string,
	ask func(ctx context.Context, id string) (req, resp []byte, status int, err error),
	toCallback func(id string, resp []byte) ([]byte, string)) (int, error) {
	found := 0
	for _, id := range ids {
		start := time.Now()
		req, resp, status, err := ask(ctx, id)
		call := &Call{ID: uuid.Must(uuid.NewV7()).String(), Direction: ToEnclave, API: api, VerificationUUID: id,
			Request: req, Response: resp, HTTPStatus: status, Elapsed: time.Since(start).Seconds()}
		if err == nil {
			var body []byte
			body, call.Result = toCallback(id, resp)
			if body != nil {
				if _, err = s.Accept(ctx, body, false, int64(len(body))); err == nil {
					found++
				}
			}
		}
		if err != nil {
			call.Error = err.Error()
		}
		if rerr := s.recordCall(ctx, s.db, call); rerr != nil {
			return found, rerr
		}
	}
	return found, nil
}

// verificationIDs runs a query selecting one column of verification uuids.
func (s *Service) verificationIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan verification uuid: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// enclaveData is the object an enclave answer carries its fields in: the answer itself, or
// its "data" or "result" member when that is an object (the reference pages show both
// shapes). It is false when the answer is not a JSON object.
func enclaveData(resp []byte) ([]byte, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(resp, &top) != nil {
		return nil, false
	}
	data := resp
	for _, k := range []string{"data", "result"} {
		if v, ok := top[k]; ok && len(v) > 0 && v[0] == '{' {
			data = v
		}
	}
	return data, true
}
