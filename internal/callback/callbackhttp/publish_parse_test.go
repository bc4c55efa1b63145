package callbackhttp

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vaspgate/vaspgate/internal/httpjson"
)

// TestParseSyntaxErrors: the publish API decodes its body once, and a body that is not JSON
// is still refused as httpjson.Decode refuses it (the same words, the same byte), whether
// the JSON breaks inside the message, ends early or goes on after it.
func TestParseSyntaxErrors(t *testing.T) {
	t.Parallel()
	msg := `{"destination":"business","subject":"a","type":"t","payload":{"x":1}}`
	for _, body := range []string{
		msg + ` x`,
		msg + `{}`,
		`  ` + msg + "\n,",
		`[` + msg + `,` + msg + `] [1]`,
		msg[:len(msg)-3],
		`  ` + msg[:40],
		`[` + msg,
		`{"destination":"business","subject":"a","type":"t","payload":{"x" 1}}`,
		"\t" + `{"destination":"business","subject":"a","type":"t","payload":[1,,2]}`,
		`[` + msg + ` ` + msg + `]`,
	} {
		want := httpjson.Decode(httptest.NewRequest("POST", "/", strings.NewReader(body)), 1<<20, new(json.RawMessage))
		if want == nil {
			t.Fatalf("%q: httpjson.Decode takes it", body)
		}
		ps, err := parsePublications([]byte(body))
		if err == nil || ps != nil {
			t.Fatalf("%q: %d publications, err %v", body, len(ps), err)
		}
		if err.Error() != want.Error() {
			t.Errorf("%q: %q, want %q", body, err, want)
		}
	}
	// Whitespace around the value is JSON's and is taken.
	if ps, err := parsePublications([]byte(" \r\n\t" + msg + "\n ")); err != nil || len(ps) != 1 {
		t.Fatalf("%d publications, err %v", len(ps), err)
	}
}

// BenchmarkDecodePublications: one publish request as bench delivery --via-http sends it
// (a 1 KiB payload), read and decoded.
func BenchmarkDecodePublications(b *testing.B) {
	body := `{"destination":"https://127.0.0.1:1/r","subject":"s-1","type":"bench.event","payload":{"n":1,"pad":"` +
		strings.Repeat("x", 1000) + `"},"idempotency_key":"k-1"}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodePublications(httptest.NewRequest("POST", "/", strings.NewReader(body))); err != nil {
			b.Fatal(err)
		}
	}
}
