package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/quote"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// JSON-RPC error codes used by Anchor Platform (RpcErrorCode.java).
const (
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603
)

// Request is one JSON-RPC call.
type Request struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// Response is one JSON-RPC answer.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Error is a JSON-RPC error; ID is the transaction id the call was about (Anchor Platform's
// convention), when known.
type Error struct {
	ID      string `json:"id,omitempty"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *Error) Error() string { return e.Message }

func errorf(code int, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// Options are the dependencies of Handler.
type Options struct {
	// BatchSizeLimit caps the requests of one batch (Anchor Platform's
	// rpc.batch_size_limit); at least 1.
	BatchSizeLimit int
	// Auth is how the business authenticates (Anchor Platform's platform_api.auth).
	Auth Auth
	// Transfers are the SEP-6 transactions.
	Transfers *transfer.Service
	// Customers reads and records SEP-12 customers (*kyc.Service); nil means no customer
	// back end: notify_customer_info_updated then acts as if no customer were known.
	Customers Customers
	// CustomerTypes are the customer_type values notify_customer_info_updated accepts besides
	// Anchor Platform's (sep6, sep31-sender, sep31-receiver): the kyc.types configured.
	CustomerTypes []string
	// MaxBodyBytes caps the request body; 0 means 1 MiB.
	MaxBodyBytes int64
	Logger       *slog.Logger
	// TravelRule, when set, gives the Travel Rule verifications linked to transactions, shown
	// on the transactions the business reads (get_transaction(s), GET /transactions).
	TravelRule TravelRule
	// Quotes are the SEP-38 quotes get_quote reads; nil when SEP-38 is off.
	Quotes *quote.Service
}

// Server dispatches JSON-RPC calls.
type Server struct {
	cfg       Options
	transfers *transfer.Service
	customers Customers
	types     map[string]bool
	auth      authenticator
	maxBody   int64
	log       *slog.Logger
	tr        TravelRule
	quotes    *quote.Service
}

// New returns the JSON-RPC server for o.
func New(o Options) (*Server, error) {
	cfg := o
	if o.Transfers == nil {
		return nil, errors.New("rpc: Transfers is required")
	}
	if o.BatchSizeLimit < 1 {
		return nil, fmt.Errorf("rpc: batch size limit %d, want at least 1", o.BatchSizeLimit)
	}
	auth, err := newAuthenticator(cfg.Auth)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, transfers: o.Transfers, customers: o.Customers, auth: auth,
		maxBody: o.MaxBodyBytes, log: o.Logger, tr: o.TravelRule, quotes: o.Quotes,
		types: map[string]bool{"": true, "sep6": true, "sep31-sender": true, "sep31-receiver": true}}
	for _, t := range o.CustomerTypes {
		s.types[t] = true
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Handler returns the http.Handler for o; mount it at POST /rpc and POST / on the admin
// listener.
func Handler(o Options) (http.Handler, error) {
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	if err := s.auth.check(r); err != nil {
		httpjson.Error(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body is larger than %d bytes", s.maxBody))
		return
	case err != nil:
		// A body that did not arrive before the listener's read timeout becomes 408 in
		// server's middleware, for every route.
		httpjson.Error(w, http.StatusBadRequest, "invalid_body", "the request body could not be read")
		return
	}
	// The text rule for every parameter of every call, before any is decoded (a NUL would
	// otherwise reach PostgreSQL, deep in a method's transaction).
	if err := httpjson.ValidJSON(body); err != nil {
		httpjson.TextRefusal(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, s.Serve(actor.With(r.Context(), businessActor), body))
}

// businessActor is who causes the changes the business asks for (history, console).
var businessActor = actor.Actor{Kind: actor.Business, Name: "platform API"}

// Serve answers one request body: an array of calls gets an array of answers in the same
// order; a single call object gets a single answer. Errors about the body as a whole (not
// JSON, over the batch limit, empty) are an array of one error, as Anchor Platform's client
// reads every answer as an array.
func (s *Server) Serve(ctx context.Context, body []byte) any {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var req Request
		if err := json.Unmarshal(trimmed, &req); err != nil {
			return invalidEnvelope("request is not a JSON-RPC object: " + err.Error())
		}
		return s.call(ctx, req)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return []Response{invalidEnvelope("request body must be a JSON array of JSON-RPC requests")}
	}
	if len(raw) > s.cfg.BatchSizeLimit {
		return []Response{invalidEnvelope(fmt.Sprintf("RPC batch size limit[%d] exceeded", s.cfg.BatchSizeLimit))}
	}
	if len(raw) == 0 {
		return []Response{invalidEnvelope("request array is empty")}
	}
	out := make([]Response, len(raw))
	for i, item := range raw {
		var req Request
		if err := json.Unmarshal(item, &req); err != nil {
			out[i] = Response{JSONRPC: "2.0", ID: json.RawMessage("null"),
				Error: errorf(CodeInvalidRequest, "request is not a JSON-RPC object")}
			continue
		}
		out[i] = s.call(ctx, req)
	}
	return out
}

func invalidEnvelope(msg string) Response {
	return Response{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: errorf(CodeInvalidRequest, "%s", msg)}
}

// validID reports whether id is a JSON string or number.
func validID(id json.RawMessage) bool {
	var v any
	if len(id) == 0 || json.Unmarshal(id, &v) != nil {
		return false
	}
	switch v.(type) {
	case string, float64:
		return true
	}
	return false
}

func (s *Server) call(ctx context.Context, req Request) Response {
	resp := Response{JSONRPC: "2.0", ID: req.ID}
	if !validID(req.ID) {
		resp.ID = json.RawMessage("null")
		resp.Error = errorf(CodeInvalidRequest, "id must be a string or a number")
		return resp
	}
	if req.JSONRPC != "2.0" {
		resp.Error = errorf(CodeInvalidRequest, "Unsupported JSON-RPC protocol version[%s]", req.JSONRPC)
		return resp
	}
	if req.Method == "" {
		resp.Error = errorf(CodeInvalidRequest, "method is required")
		return resp
	}
	result, err := s.dispatch(ctx, req.Method, req.Params)
	if err != nil {
		resp.Error = s.toError(ctx, req, err)
		return resp
	}
	resp.Result = result
	return resp
}

// toError maps domain errors to JSON-RPC errors with Anchor Platform's codes, and sets the
// error id to the transaction id of the call.
func (s *Server) toError(ctx context.Context, req Request, err error) *Error {
	var e *Error
	var te *transfer.TransitionError
	var ie *transfer.InvalidError
	var he *transfer.HoldError
	var le *transfer.LedgerError
	var txID struct {
		TransactionID string `json:"transaction_id"`
		ID            string `json:"id"`
	}
	_ = json.Unmarshal(req.Params, &txID)
	id := txID.TransactionID
	if id == "" {
		id = txID.ID
	}
	switch {
	case errors.As(err, &e):
		e = &Error{Code: e.Code, Message: e.Message, Data: e.Data}
	case errors.Is(err, transfer.ErrNotFound):
		e = errorf(CodeInvalidRequest, "Transaction with id[%s] is not found", id)
	case errors.As(err, &te):
		e = errorf(CodeInvalidRequest, "%s", te.Error())
	case errors.As(err, &he):
		e = errorf(CodeInvalidRequest, "%s", he.Msg)
	case errors.As(err, &ie):
		e = errorf(CodeInvalidParams, "%s", ie.Msg)
	case errors.As(err, &le):
		e = errorf(CodeInternal, "%s", le.Msg)
	case errors.Is(err, transfer.ErrNotFunded):
		e = errorf(CodeInvalidRequest, "%s", strings.TrimPrefix(err.Error(), "transfer: "))
	case errors.Is(err, transfer.ErrConflict):
		e = errorf(CodeInternal, "%s", transfer.ErrConflict.Error())
	default:
		if ce := customerError(err); ce != nil {
			e = ce
			break
		}
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "rpc: method failed", "method", req.Method, "transaction_id", id, "err", err)
		}
		e = errorf(CodeInternal, "internal error")
	}
	e.ID = id
	return e
}
