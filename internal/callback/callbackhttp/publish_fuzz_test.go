package callbackhttp

import (
	"encoding/json"
	"testing"

	"github.com/vaspgate/vaspgate/internal/callback"
)

// FuzzParsePublications: whatever the publish API is sent, the parser returns an error or
// 1 to MaxPublishBatch publications, each with a payload; a body that is not JSON is an error
// (the parser is the body's one JSON scan).
func FuzzParsePublications(f *testing.F) {
	for _, s := range []string{
		`{"destination":"business","subject":"a","type":"t","payload":{"x":1}}`,
		`[{"destination":"https://h/x","subject":"a","type":"t","payload":[1,2],"idempotency_key":"k","occurred_at":"2026-11-29T00:00:00Z"}]`,
		`[]`, `{}`, `null`, `"x"`, `[{"payload":null}]`, `{"payload":1,"extra":2}`, ` [ {"payload": "s"} ] `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := parsePublications(b)
		if err == nil && !json.Valid(b) {
			t.Fatalf("%q is not JSON and was taken", b)
		}
		if err != nil {
			if ps != nil {
				t.Fatalf("error %v with %d publications", err, len(ps))
			}
			return
		}
		if len(ps) == 0 || len(ps) > callback.MaxPublishBatch {
			t.Fatalf("%d publications", len(ps))
		}
		for _, p := range ps {
			if len(p.Payload) == 0 || string(p.Payload) == "null" {
				t.Fatalf("publication without payload from %q", b)
			}
		}
	})
}
