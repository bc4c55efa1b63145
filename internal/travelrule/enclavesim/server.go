package enclavesim

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Received is one request the simulated enclave got from the VASP.
type Received struct {
	Method, Path string
	Body         map[string]any
}

// Result is a verification result as the beneficiary VASP decided it.
type Result struct{ Result, Reason, Message string }

// Server is the enclave the VASP calls (Enclave API v1): it answers User Verification
// (POST /v1/verifications) with a new verificationUuid, Transaction Result Report
// (POST /v1/verifications/tx), Error Report (POST /v1/verifications/error), Transaction
// Status Query (POST /v1/verifications/tx/inquiry) and Verification Result by UUID
// (GET /v1/verifications/{uuid}), and records every request. The result of a verification
// is decided by Decide and reaches the VASP by a VERIFICATION_RESULT callback, sent by Send
// (or at once when AutoSend is set); a callback never sent is a lost callback that only
// the result query reveals.
type Server struct {
	*httptest.Server
	// VASP calls the VASP's callback path.
	VASP Caller
	// Decide gives the result of a requested verification; default VERIFIED OK.
	Decide func(req map[string]any) Result
	// AutoSend sends the result callback as soon as the verification is requested.
	AutoSend bool

	mu       sync.Mutex
	got      []Received
	results  map[string]Result
	reported map[string]string // uuid -> txHash
	changed  chan struct{}
}

// NewServer starts a simulated enclave on loopback.
func NewServer() *Server {
	s := &Server{results: map[string]Result{}, reported: map[string]string{}, changed: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/verifications", s.verify)
	mux.HandleFunc("POST /v1/verifications/tx", s.txReport)
	mux.HandleFunc("POST /v1/verifications/error", s.errorReport)
	mux.HandleFunc("POST /v1/verifications/tx/inquiry", s.inquiry)
	mux.HandleFunc("GET /v1/verifications/{uuid}", s.result)
	s.Server = httptest.NewServer(mux)
	return s
}

func (s *Server) record(r *http.Request) map[string]any {
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	s.mu.Lock()
	s.got = append(s.got, Received{Method: r.Method, Path: r.URL.Path, Body: body})
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return body
}

func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	body := s.record(r)
	for _, k := range []string{"beneficiaryVaspId", "requiredBeneficiaryInfo", "assetInfo", "payload"} {
		if body[k] == nil {
			write(w, 400, map[string]string{"code": "INVALID-PARAMETER", "message": k + " is required."})
			return
		}
	}
	res := Result{Result: "VERIFIED", Reason: "OK"}
	if s.Decide != nil {
		res = s.Decide(body)
	}
	id := newUUID()
	s.mu.Lock()
	s.results[id] = res
	s.mu.Unlock()
	write(w, 200, map[string]any{"verificationUuid": id, "createdAt": time.Now().UTC().Format(time.RFC3339Nano)})
	if s.AutoSend {
		go func() { _, _ = s.Send(context.Background(), id) }()
	}
}

// Send delivers the VERIFICATION_RESULT callback of a verification to the VASP.
func (s *Server) Send(ctx context.Context, id string) (Reply, error) {
	s.mu.Lock()
	res, ok := s.results[id]
	s.mu.Unlock()
	if !ok {
		return Reply{}, fmt.Errorf("enclavesim: no verification %s", id)
	}
	return s.VASP.Post(ctx, s.VASP.CallbackPath, map[string]any{"callbackType": "VERIFICATION_RESULT", "data": map[string]any{
		"verificationUuid": id, "verificationResult": res.Result, "reason": res.Reason, "message": res.Message,
	}})
}

func (s *Server) known(w http.ResponseWriter, body map[string]any) (string, bool) {
	id, _ := body["verificationUuid"].(string)
	if id == "" {
		write(w, 400, map[string]string{"code": "MISSING-VERIFICATION-UUID", "message": "`verificationUuid` is required."})
		return "", false
	}
	s.mu.Lock()
	_, ok := s.results[id]
	s.mu.Unlock()
	if !ok {
		write(w, 400, map[string]string{"code": "VERIFICATION-NOT-FOUND", "message": "Verification(" + id + ") is not found"})
		return "", false
	}
	return id, true
}

func (s *Server) txReport(w http.ResponseWriter, r *http.Request) {
	body := s.record(r)
	id, ok := s.known(w, body)
	if !ok {
		return
	}
	hash, _ := body["txHash"].(string)
	s.mu.Lock()
	s.reported[id] = hash
	s.mu.Unlock()
	write(w, 200, map[string]bool{"result": true})
}

func (s *Server) errorReport(w http.ResponseWriter, r *http.Request) {
	body := s.record(r)
	if _, ok := s.known(w, body); !ok {
		return
	}
	if body["reason"] == nil || body["result"] == nil {
		write(w, 400, map[string]string{"code": "INVALID-PARAMETER", "message": "result and reason are required."})
		return
	}
	write(w, 200, map[string]bool{"result": true})
}

func (s *Server) inquiry(w http.ResponseWriter, r *http.Request) {
	body := s.record(r)
	id, ok := s.known(w, body)
	if !ok {
		return
	}
	s.mu.Lock()
	hash := s.reported[id]
	s.mu.Unlock()
	status := "PENDING"
	if hash != "" {
		status = "CONFIRMED"
	}
	write(w, 200, map[string]any{"verificationUuid": id, "transactionStatus": status, "txHash": hash})
}

func (s *Server) result(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	id := r.PathValue("uuid")
	s.mu.Lock()
	res, ok := s.results[id]
	s.mu.Unlock()
	if !ok {
		write(w, 400, map[string]string{"code": "VERIFICATION-NOT-FOUND", "message": "Verification(" + id + ") is not found"})
		return
	}
	write(w, 200, map[string]any{"verificationUuid": id, "result": res.Result, "reason": res.Reason, "message": res.Message})
}

// Got returns the requests received on path (all when path is ""), in arrival order.
func (s *Server) Got(path string) []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Received
	for _, g := range s.got {
		if path == "" || g.Path == path || (strings.HasSuffix(path, "/") && strings.HasPrefix(g.Path, path)) {
			out = append(out, g)
		}
	}
	return out
}

// WaitFor waits until n requests arrived on path, or the timeout; it returns them.
func (s *Server) WaitFor(path string, n int, timeout time.Duration) ([]Received, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if got := s.Got(path); len(got) >= n {
			return got, nil
		}
		select {
		case <-s.changed:
		case <-deadline.C:
			return s.Got(path), fmt.Errorf("enclavesim: %d requests on %s after %v, want %d", len(s.Got(path)), path, timeout, n)
		}
	}
}

// Incoming registers a verification the counterparty's enclave started (this enclave
// forwarded it to the VASP with Verify User) and the transaction hash the originating VASP
// reported for it (Report Transaction Result on its side), so that Transaction Status Query
// answers it. The TX_REPORT callback is sent only by SendTxReport: not calling it plays a
// lost callback.
func (s *Server) Incoming(id, txHash string) {
	s.mu.Lock()
	s.results[id] = Result{Result: "VERIFIED", Reason: "OK"}
	s.reported[id] = txHash
	s.mu.Unlock()
}

// Conclude sets the final result of an incoming verification (Incoming starts it VERIFIED),
// as the counterparty's enclave would revise it; Send then delivers it.
func (s *Server) Conclude(id string, r Result) {
	s.mu.Lock()
	s.results[id] = r
	s.mu.Unlock()
}

// SendTxReport delivers the TX_REPORT callback of an incoming verification (the reference
// page's example shape: verificationUuid, txHash, vout).
func (s *Server) SendTxReport(ctx context.Context, id string) (Reply, error) {
	s.mu.Lock()
	hash, ok := s.reported[id]
	s.mu.Unlock()
	if !ok {
		return Reply{}, fmt.Errorf("enclavesim: no incoming verification %s", id)
	}
	return s.VASP.Post(ctx, s.VASP.CallbackPath, map[string]any{"callbackType": "TX_REPORT", "data": map[string]any{
		"verificationUuid": id, "txHash": hash,
	}})
}

// SendKYT delivers a CHAINALYSIS_KYT_RESULT callback for an incoming transfer (apiType
// TRANSFER, direction INCOMING, status PROCESSED) with one alert of level (LOW, MEDIUM,
// HIGH, SEVERE), shaped as the reference page's example.
func (s *Server) SendKYT(ctx context.Context, id, level string) (Reply, error) {
	ext := newUUID()
	return s.VASP.Post(ctx, s.VASP.CallbackPath, map[string]any{"callbackType": "CHAINALYSIS_KYT_RESULT", "data": map[string]any{
		"verificationUuid": id,
		"riskAssessment": map[string]any{
			"chainalysisKYT": map[string]any{
				"counterpartyVaspId": "15952089931162060684", "apiType": "TRANSFER", "direction": "INCOMING",
				"network": "STELLAR", "asset": "USDC", "amount": "1", "usdPrice": "1.00", "externalId": ext,
				"status": "PROCESSED", "alertCount": 1, "timestamp": "2026-11-29T02:00:00.000Z",
				"createdAt": "2026-11-29T02:00:01.000Z", "assessedAt": "2026-11-29T02:00:01.000Z",
			},
			"chainalysisKYTAlerts": []any{map[string]any{
				"counterpartyVaspId": "15952089931162060684", "externalId": ext, "direction": "INCOMING",
				"alertId": newUUID(), "alertLevel": level, "entityCategory": "sanctioned entity",
				"serviceName": "simulated", "exposureType": "DIRECT", "alertAmount": "1.00",
				"createdAt": "2026-11-29T02:00:02.000Z",
			}},
		},
	}})
}
