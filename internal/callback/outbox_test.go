package callback

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// TestPayloadSplit: the body PostgreSQL splices (before + sequence + after) is byte for byte
// the envelope built with that sequence, whatever the strings around it hold.
func TestPayloadSplit(t *testing.T) {
	t.Parallel()
	for _, m := range []Message{
		{EventID: "e1", Type: "customer_updated", OccurredAt: time.Unix(1, 5).UTC(), Body: []byte(`{"a": 1}`)},
		{EventID: `x","sequence":0,"payload":`, Type: `"sequence":0,<&>`, Body: []byte(`{"sequence":0,"payload":"<b>"}`)},
	} {
		pl := payload{marker: []byte(`,"sequence":0,"payload":`), build: func(seq int64) ([]byte, error) {
			return json.Marshal(struct {
				ID        string          `json:"id"`
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Sequence  int64           `json:"sequence"`
				Payload   json.RawMessage `json:"payload"`
			}{m.EventID, m.Type, m.OccurredAt.UTC().Format(time.RFC3339Nano), seq, m.Body})
		}}
		before, after, ok, err := pl.split()
		if err != nil || !ok {
			t.Fatalf("split: %v %v", ok, err)
		}
		for _, seq := range []int64{0, 1, 9, 10, 123456789} {
			want, _ := pl.build(seq)
			got := append(append(bytes.Clone(before), strconv.FormatInt(seq, 10)...), after...)
			if !bytes.Equal(got, want) {
				t.Fatalf("seq %d:\n got %s\nwant %s", seq, got, want)
			}
		}
	}
}
