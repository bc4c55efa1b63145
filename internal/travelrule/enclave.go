package travelrule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// EnclaveClient calls the VASP's own enclave (vaspgate as the originating VASP). The enclave
// is the operator's own service at a configured address (default http://127.0.0.1:21117), not
// a URL from outside, so it is reached with a plain client bounded by Timeout. Retries are
// the job engine's: each call is one attempt of a durable job.
type EnclaveClient struct {
	// URL is travel_rule.enclave.url.
	URL string
	// HTTP is the client; default one with Timeout.
	HTTP *http.Client
	// Timeout bounds one call. Default 10s.
	Timeout time.Duration
}

// EnclaveError is a call the enclave answered with an error status.
type EnclaveError struct {
	Status int
	Code   string
	Msg    string
}

func (e *EnclaveError) Error() string {
	return fmt.Sprintf("travelrule: enclave answered %d %s %s", e.Status, e.Code, e.Msg)
}

// do sends one request and returns the answer's body; a non-2xx status is an *EnclaveError.
func (c *EnclaveClient) do(ctx context.Context, method, path string, body any) (req, resp []byte, status int, err error) {
	if body != nil {
		if req, err = json.Marshal(body); err != nil {
			return nil, nil, 0, err
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, bytes.NewReader(req))
	if err != nil {
		return req, nil, 0, err
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	res, err := client.Do(r)
	if err != nil {
		return req, nil, 0, fmt.Errorf("travelrule: enclave %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	resp, err = io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return req, resp, res.StatusCode, fmt.Errorf("travelrule: enclave %s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(resp, &e)
		return req, resp, res.StatusCode, &EnclaveError{Status: res.StatusCode, Code: e.Code, Msg: e.Message}
	}
	return req, resp, res.StatusCode, nil
}
