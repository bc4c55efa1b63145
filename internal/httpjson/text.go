package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// CodeInvalidText is the machine-readable code of a 400 answered for a text parameter that
// breaks the text rule (ValidText).
const CodeInvalidText = "invalid_text"

// TextError is a text parameter that breaks the text rule. Its message names the parameter
// (quoted, so a name that is itself broken is shown escaped) and is safe to show the caller.
type TextError struct {
	// Name is the parameter: a query or form key, a JSON member, "path" or "body".
	Name string
	// Reason says what is wrong: "contains NUL" or "is not valid UTF-8".
	Reason string
}

func (e *TextError) Error() string {
	return fmt.Sprintf("parameter %q %s: text must be valid UTF-8 without NUL characters", e.Name, e.Reason)
}

// ValidText is the one rule for every text parameter vaspgate accepts from outside (SEP-6,
// SEP-12, JSON-RPC, admin API; query strings, forms, multipart text parts, JSON strings):
// it must be valid UTF-8 and contain no NUL. PostgreSQL refuses both in text columns (the
// request would fail deep in a transaction as a 500) and SQLite would store what no later
// reader can print, so such text is refused at the edge with a 400 instead. name is the
// parameter's name for the error.
func ValidText(name, s string) error {
	if !utf8.ValidString(s) {
		return &TextError{Name: name, Reason: "is not valid UTF-8"}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return &TextError{Name: name, Reason: "contains NUL"}
	}
	return nil
}

// ValidValues applies ValidText to every key and value of a query string or form.
func ValidValues(v url.Values) error {
	for k, vs := range v {
		if err := ValidText(k, k); err != nil {
			return err
		}
		for _, s := range vs {
			if err := ValidText(k, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// nulEscape is how a NUL is written inside a JSON string.
var nulEscape = []byte(`\u0000`)

// ValidJSON applies ValidText to every string of a JSON document, member names included.
// The body as a whole must be valid UTF-8 (encoding/json would otherwise silently turn
// broken bytes into U+FFFD), and no string may decode to one containing NUL. A document
// that is not JSON at all is left to the caller's decoder to report.
func ValidJSON(body []byte) error {
	if !utf8.Valid(body) {
		return &TextError{Name: "body", Reason: "is not valid UTF-8"}
	}
	if !bytes.Contains(body, nulEscape) {
		return nil // the common case: no string can hold a NUL
	}
	// `\u0000` may also be the text `\\u0000` (an escaped backslash): look at the strings.
	dec := json.NewDecoder(bytes.NewReader(body))
	key := "body"
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // not JSON: the caller's decoder says so
		}
		s, ok := tok.(string)
		if !ok {
			continue
		}
		if err := ValidText(key, s); err != nil {
			return err
		}
		key = s // a member name names the value that follows; good enough for a message
	}
}

// RequireText applies the text rule to what every route reads before its handler runs: the
// URL path (its decoded form, which path values come from) and every query parameter. A
// request that breaks it is answered 400 with code invalid_text. Bodies are checked by
// their decoders (Decode, ValidJSON, ValidValues), which know where a body's text is.
func RequireText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := ValidText("path", r.URL.Path)
		if err == nil && r.URL.RawQuery != "" {
			// A malformed escape ends parsing; what was parsed is still checked, and the
			// handler reads the same values.
			q, _ := url.ParseQuery(r.URL.RawQuery)
			err = ValidValues(q)
		}
		if err != nil {
			TextRefusal(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TextRefusal answers err with 400 and code invalid_text when it is a *TextError and
// reports whether it did; handlers call it with their decoding errors.
func TextRefusal(w http.ResponseWriter, err error) bool {
	var te *TextError
	if !errors.As(err, &te) {
		return false
	}
	Error(w, http.StatusBadRequest, CodeInvalidText, te.Error())
	return true
}
