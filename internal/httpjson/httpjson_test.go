package httpjson_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vaspgate/vaspgate/internal/httpjson"
)

func TestError(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	httpjson.Error(rec, 404, "not_found", "customer not found")
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body httpjson.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error != "customer not found" || body.Code != "not_found" {
		t.Fatalf("body = %+v", body)
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	type target struct {
		N int `json:"n"`
	}
	tests := []struct {
		name, body string
		wantErr    string
		tooLarge   bool
	}{
		{name: "ok", body: `{"n": 3}`},
		{name: "empty", body: ``, wantErr: "empty"},
		{name: "syntax", body: `{"n":`, wantErr: "not valid JSON"},
		{name: "type", body: `{"n":"x"}`, wantErr: `field "n"`},
		{name: "too large", body: `{"n": 1, "pad": "` + strings.Repeat("x", 100) + `"}`, tooLarge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			var v target
			err := httpjson.Decode(req, 64, &v)
			var tl *httpjson.TooLargeError
			switch {
			case tt.tooLarge:
				if !errors.As(err, &tl) {
					t.Fatalf("err = %v, want TooLargeError", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			default:
				if err != nil || v.N != 3 {
					t.Fatalf("err = %v, v = %+v", err, v)
				}
			}
		})
	}
}
