package callbackhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	var raw json.RawMessage
	if err := httpjson.Decode(r, maxPublishBody, &raw); err != nil {
		return nil, err
	}
	return parsePublications(raw)
}

func parsePublications(raw []byte) ([]callback.Publication, error) {
	raw = bytes.TrimSpace(raw)
	var msgs []messageJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	switch {
	case len(raw) > 0 && raw[0] == '[':
		if err := dec.Decode(&msgs); err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
	case len(raw) > 0 && raw[0] == '{':
		var m messageJSON
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("message: %w", err)
		}
		msgs = []messageJSON{m}
	default:
		return nil, errors.New("body must be a message (a JSON object) or a batch (a JSON array)")
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
