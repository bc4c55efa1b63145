package httpjson_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vaspgate/vaspgate/internal/httpjson"
)

func TestValidText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		reason   string // empty: valid
	}{
		{name: "ascii", in: "Alice"},
		{name: "empty", in: ""},
		{name: "accents and hangul", in: "Zoë 김민준"},
		{name: "emoji", in: "🙂"},
		{name: "tab and newline", in: "a\tb\nc"},
		{name: "nul", in: "a\x00b", reason: "contains NUL"},
		{name: "nul alone", in: "\x00", reason: "contains NUL"},
		{name: "lone continuation byte", in: "a\x80", reason: "is not valid UTF-8"},
		{name: "latin-1 byte", in: "caf\xe9", reason: "is not valid UTF-8"},
		{name: "overlong slash", in: "\xc0\xaf", reason: "is not valid UTF-8"},
		{name: "surrogate", in: "\xed\xa0\x80", reason: "is not valid UTF-8"},
		{name: "truncated sequence", in: "\xe2\x82", reason: "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := httpjson.ValidText("first_name", tt.in)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("ValidText(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			var te *httpjson.TextError
			if !errors.As(err, &te) || te.Reason != tt.reason || te.Name != "first_name" {
				t.Fatalf("ValidText(%q) = %v, want reason %q", tt.in, err, tt.reason)
			}
		})
	}
}

func TestValidJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		bad        string // the TextError's Name; empty: valid
	}{
		{name: "plain", body: `{"first_name":"Alice","n":3}`},
		{name: "escaped backslash then u0000 is text", body: `{"path":"C:\\u0000"}`},
		{name: "escaped unicode", body: `{"name":"Zo\u00eb"}`},
		{name: "nul in value", body: `{"first_name":"A\u0000"}`, bad: "first_name"},
		{name: "nul in nested value", body: `{"params":{"memo":"\u0000x"}}`, bad: "memo"},
		{name: "nul in array", body: `[{"id":"1"},{"id":"x\u0000"}]`, bad: "id"},
		{name: "nul in key", body: `{"a\u0000":"b"}`, bad: "body"},
		{name: "raw invalid utf-8", body: "{\"first_name\":\"caf\xe9\"}", bad: "body"},
		{name: "not json at all is the decoder's business", body: `{"a":"\u0000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := httpjson.ValidJSON([]byte(tt.body))
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("ValidJSON(%s) = %v", tt.body, err)
				}
				return
			}
			var te *httpjson.TextError
			if !errors.As(err, &te) || te.Name != tt.bad {
				t.Fatalf("ValidJSON(%s) = %v, want a TextError naming %q", tt.body, err, tt.bad)
			}
		})
	}
}

func TestDecodeRefusesBrokenText(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"reason":"x\u0000"}`))
	var v struct{ Reason string }
	err := httpjson.Decode(r, 1<<10, &v)
	var te *httpjson.TextError
	if !errors.As(err, &te) {
		t.Fatalf("Decode = %v, want a *TextError", err)
	}
	rec := httptest.NewRecorder()
	if !httpjson.TextRefusal(rec, err) || rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"code":"invalid_text"`) {
		t.Fatalf("TextRefusal answered %d %s", rec.Code, rec.Body)
	}
}

func TestRequireText(t *testing.T) {
	t.Parallel()
	h := httpjson.RequireText(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	tests := []struct {
		name, target string
		want         int
	}{
		{name: "clean", target: "/sep6/transaction?id=abc&lang=en", want: http.StatusNoContent},
		{name: "utf-8 query", target: "/sep12/customer?memo=%C3%A9", want: http.StatusNoContent},
		{name: "nul in query value", target: "/sep6/transactions?asset_code=USDC%00", want: http.StatusBadRequest},
		{name: "nul in query key", target: "/sep6/info?a%00=1", want: http.StatusBadRequest},
		{name: "invalid utf-8 in query", target: "/sep6/deposit?account=%FF", want: http.StatusBadRequest},
		{name: "nul in path", target: "/transactions/ab%00c", want: http.StatusBadRequest},
		{name: "invalid utf-8 in path", target: "/admin/v1/deliveries/%C3%28", want: http.StatusBadRequest},
		{name: "malformed escape after a bad value", target: "/x?a=%00&b=%zz", want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.target, nil))
			if rec.Code != tt.want {
				t.Fatalf("%s: %d %s, want %d", tt.target, rec.Code, rec.Body, tt.want)
			}
			if tt.want == http.StatusBadRequest {
				var body httpjson.ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Code != httpjson.CodeInvalidText {
					t.Fatalf("body %s (%v)", rec.Body, err)
				}
			}
		})
	}
}

// FuzzValidText holds the rule's contract over arbitrary input: whatever ValidText accepts is
// valid UTF-8 without NUL (so PostgreSQL stores it), whatever it refuses is not, and the
// same holds when the text arrives as a query value, a form value or a JSON string.
func FuzzValidText(f *testing.F) {
	for _, s := range []string{"", "Alice", "a\x00b", "caf\xe9", "\xed\xa0\x80", "Zoë 김민준", `\u0000`, "\\", "\"", "🙂\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := utf8.ValidString(s) && !strings.ContainsRune(s, 0)
		if got := httpjson.ValidText("p", s) == nil; got != ok {
			t.Fatalf("ValidText(%q) accepted=%v, want %v", s, got, ok)
		}
		if got := httpjson.ValidValues(url.Values{"p": {s}}) == nil; got != ok {
			t.Fatalf("ValidValues(%q) accepted=%v, want %v", s, got, ok)
		}
		// As a query string through the edge middleware.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/x?"+url.Values{"p": {s}}.Encode(), nil)
		httpjson.RequireText(http.NotFoundHandler()).ServeHTTP(rec, req)
		if refused := rec.Code == http.StatusBadRequest; refused == ok {
			t.Fatalf("RequireText(%q) answered %d, valid=%v", s, rec.Code, ok)
		}
		// As a JSON string: encoding/json writes broken UTF-8 as U+FFFD, so only the NUL
		// survives encoding; a raw body with the bytes as they are must be refused too.
		enc, err := json.Marshal(map[string]string{"p": s})
		if err != nil {
			t.Fatal(err)
		}
		if got := httpjson.ValidJSON(enc) == nil; got != !strings.ContainsRune(s, 0) {
			t.Fatalf("ValidJSON(%s) accepted=%v", enc, got)
		}
		raw := append(append([]byte(`{"p":"`), s...), `"}`...)
		if !ok && httpjson.ValidJSON(raw) == nil && !json.Valid(raw) {
			return // not JSON at all: the decoder refuses it
		}
		if !utf8.ValidString(s) && httpjson.ValidJSON(raw) == nil {
			t.Fatalf("ValidJSON accepted raw invalid UTF-8 %q", raw)
		}
	})
}
