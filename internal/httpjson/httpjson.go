// Package httpjson writes JSON responses and machine-readable errors, and reads JSON request
// bodies under a size limit, the same way for every vaspgate API.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrorBody is the shape of every error vaspgate answers with: a human-readable `error`
// (what SEP clients read) and a stable machine-readable `code`.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// Write answers status with v encoded as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Error answers status with {"error": message, "code": code}.
func Error(w http.ResponseWriter, status int, code, message string) {
	Write(w, status, ErrorBody{Error: message, Code: code})
}

// Decode reads a JSON body of at most limit bytes into v. Its errors are safe to show the
// caller; a body over the limit yields a *TooLargeError, text that breaks the text rule
// (ValidJSON) a *TextError.
func Decode(r *http.Request, limit int64, v any) error {
	body, err := ReadBody(r, limit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return DecodeError(err)
	}
	return nil
}

// ReadBody reads a body of at most limit bytes as Decode does (the same errors: a
// *TooLargeError, an empty body, a *TextError) without decoding it, for a handler that
// decodes it once itself (a json.Decoder with DisallowUnknownFields) rather than scanning
// it twice; that handler words its decoder's errors with DecodeError.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &TooLargeError{Limit: limit}
		}
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if len(body) == 0 {
		return nil, errors.New("request body is empty")
	}
	if err := ValidJSON(body); err != nil {
		return nil, err
	}
	return body, nil
}

// DecodeError words an error of json.Unmarshal (or a json.Decoder) for the caller: where the
// syntax broke, or which field has the wrong type.
func DecodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("body is not valid JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("field %q must be %s", te.Field, te.Type)
	default:
		return fmt.Errorf("body is not valid JSON: %v", err)
	}
}

// TooLargeError reports a body over the limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("request body is larger than %d bytes", e.Limit)
}
