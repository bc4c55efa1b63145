package callbackhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/httpjson"
)

// Publisher records the business's own messages; *callback.Engine implements it.
type Publisher interface {
	Publish(ctx context.Context, ps []callback.Publication) ([]callback.Published, error)
}

// maxPublishBody bounds a publish request (a full batch of ~1 KiB messages fits).
const maxPublishBody = 4 << 20

// RegisterPublish adds the publish API to mux (the admin API mux: the admin bearer token is
// required, compared in constant time, as for every /admin/v1 route):
//
//	POST /admin/v1/messages   one message (a JSON object) or a batch (a JSON array)
//
// Each message: {"destination": "business" | "<configured destination id>" | "https://…",
// "subject": "…", "type": "…", "payload": <JSON>, "idempotency_key": "…" (optional),
// "occurred_at": RFC 3339 (optional)}.
// 202 means every message of the request is committed (durable) and will be delivered in
// order per (destination, subject), signed, retried, with an attempt log:
// {"messages": [{"delivery_id", "event_id", "endpoint_id", "subject", "sequence", "duplicate"}]}.
// A repeated idempotency key answers 202 with the first delivery and "duplicate": true.
func RegisterPublish(mux *http.ServeMux, p Publisher) {
	mux.HandleFunc("POST /admin/v1/messages", func(w http.ResponseWriter, r *http.Request) {
		ps, err := decodePublications(r)
		if err != nil {
			if httpjson.TextRefusal(w, err) {
				return
			}
			var tl *httpjson.TooLargeError
			if errors.As(err, &tl) {
				httpjson.Error(w, http.StatusRequestEntityTooLarge, "body_too_large", err.Error())
				return
			}
			httpjson.Error(w, http.StatusBadRequest, "invalid_message", err.Error())
			return
		}
		out, err := p.Publish(r.Context(), ps)
		if errors.Is(err, callback.ErrInvalidMessage) {
			httpjson.Error(w, http.StatusBadRequest, "invalid_message", err.Error())
			return
		}
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "not_recorded", "the messages were not recorded; retry (with the same idempotency keys)")
			return
		}
		httpjson.Write(w, http.StatusAccepted, map[string]any{"messages": out})
	})
}

// messageJSON is one message as the publish API takes it.
type messageJSON struct {
	Destination    string          `json:"destination"`
	Subject        string          `json:"subject"`
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload"`
	IdempotencyKey string          `json:"idempotency_key"`
	OccurredAt     *time.Time      `json:"occurred_at"`
}

// decodePublications reads one message (an object) or a batch (an array), strictly:
// unknown fields and a missing payload are errors naming the message.
func decodePublications(r *http.Request) ([]callback.Publication, error) {
	// The body is read, not decoded: parsePublications's decoder is its one decode (an
	// Unmarshal into a json.RawMessage before it scanned the body twice more and copied it,
	// 3 % of the process's CPU in bench delivery --via-http; issue 16).
	body, err := httpjson.ReadBody(r, maxPublishBody)
	if err != nil {
		return nil, err
	}
	return parsePublications(body)
}

// jsonSpace is the whitespace JSON allows around a value.
const jsonSpace = " \t\r\n"

func parsePublications(raw []byte) ([]callback.Publication, error) {
	lead := int64(len(raw) - len(bytes.TrimLeft(raw, jsonSpace)))
	raw = bytes.Trim(raw, jsonSpace)
	var msgs []messageJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	switch {
	case len(raw) > 0 && raw[0] == '[':
		if err := dec.Decode(&msgs); err != nil {
			return nil, decodeError("batch", err, lead, len(raw))
		}
	case len(raw) > 0 && raw[0] == '{':
		var m messageJSON
		if err := dec.Decode(&m); err != nil {
			return nil, decodeError("message", err, lead, len(raw))
		}
		msgs = []messageJSON{m}
	default:
		return nil, errors.New("body must be a message (a JSON object) or a batch (a JSON array)")
	}
	if off := dec.InputOffset(); off < int64(len(raw)) {
		// The decoder stops after one value; json.Unmarshal refused anything after it too.
		rest := raw[off:]
		return nil, syntaxAt(lead + off + int64(len(rest)-len(bytes.TrimLeft(rest, jsonSpace))) + 1)
	}
	if len(msgs) == 0 || len(msgs) > callback.MaxPublishBatch {
		return nil, fmt.Errorf("a batch holds 1 to %d messages", callback.MaxPublishBatch)
	}
	out := make([]callback.Publication, len(msgs))
	for i, m := range msgs {
		if len(m.Payload) == 0 || string(m.Payload) == "null" {
			return nil, fmt.Errorf("message %d: payload is required (any JSON value but null)", i)
		}
		p := callback.Publication{Destination: m.Destination, Subject: m.Subject, Type: m.Type,
			Payload: []byte(m.Payload), IdempotencyKey: m.IdempotencyKey}
		if m.OccurredAt != nil {
			p.OccurredAt = *m.OccurredAt
		}
		out[i] = p
	}
	return out, nil
}

// decodeError words the decoder's error: broken syntax as httpjson.DecodeError words it,
// at its byte in the body as sent (lead: the whitespace trimmed before the value, n: the
// length of the trimmed body); anything else (a wrong type, an unknown field) named by what
// was being read.
func decodeError(what string, err error, lead int64, n int) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return syntaxAt(lead + se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return syntaxAt(lead + int64(n))
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// syntaxAt is the error for a body whose JSON breaks at byte off (1-based, as json.Unmarshal
// counts), worded by httpjson.DecodeError.
func syntaxAt(off int64) error {
	return httpjson.DecodeError(&json.SyntaxError{Offset: off})
}
