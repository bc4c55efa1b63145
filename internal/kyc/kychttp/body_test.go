package kychttp

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vaspgate/vaspgate/internal/kyc"
)

// FuzzReadBody feeds arbitrary bodies and content types to the PUT /customer decoder: it
// must never panic, and fail only with a bad request or a size error.
func FuzzReadBody(f *testing.F) {
	f.Add("application/json", []byte(`{"first_name":"Ada","memo":"5","n":1.5,"b":true,"x":null}`))
	f.Add("application/json", []byte(`{"first_name":{"a":1}}`))
	f.Add("application/x-www-form-urlencoded", []byte("first_name=Ada&type=sep6"))
	f.Add("multipart/form-data; boundary=XX", []byte("--XX\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nsep6\r\n"+
		"--XX\r\nContent-Disposition: form-data; name=\"photo_id_front\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XX--\r\n"))
	f.Add("", []byte("\x00garbage"))
	f.Add("text/plain", []byte("a=b"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		r := httptest.NewRequest("PUT", "/sep12/customer", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		_, _, err := readBody(r, 1<<16, false)
		if err == nil {
			return
		}
		var bad *kyc.BadRequestError
		var mbe *http.MaxBytesError
		if !errors.As(err, &bad) && !errors.As(err, &mbe) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
