// Package stellarhttp serves SEP-1 and SEP-10 over HTTP and guards authenticated SEP
// endpoints with the SEP-10 token (the Require middleware).
package stellarhttp

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/stellar"
)

// maxTokenBody bounds POST /auth bodies: a challenge with 20 signatures is about 2 KB.
const maxTokenBody = 64 << 10

// Handler serves /.well-known/stellar.toml and /auth.
type Handler struct {
	auth *stellar.Auth
	log  *slog.Logger
}

// New returns the handler for auth; log nil means slog.Default().
func New(auth *stellar.Auth, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{auth: auth, log: log}
}

// Register adds the SEP-1 and SEP-10 routes (and their OPTIONS preflights) to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET /.well-known/stellar.toml", server.CORS(http.HandlerFunc(h.toml)))
	mux.Handle("OPTIONS /.well-known/stellar.toml", server.Preflight)
	mux.Handle("GET /auth", server.CORS(http.HandlerFunc(h.challenge)))
	mux.Handle("POST /auth", server.CORS(http.HandlerFunc(h.token)))
	mux.Handle("OPTIONS /auth", server.Preflight)
}

func (h *Handler) toml(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(h.auth.TOML())
}

func (h *Handler) challenge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := h.auth.Challenge(r.Context(), stellar.ChallengeRequest{
		Account:      q.Get("account"),
		Memo:         q.Get("memo"),
		HomeDomain:   q.Get("home_domain"),
		ClientDomain: q.Get("client_domain"),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, c)
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	tx, err := readTransaction(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	token, err := h.auth.Token(r.Context(), tx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"token": token})
}

// readTransaction takes the challenge from a form or JSON body (both are required by
// SEP-10). A body without a usable content type is read as JSON when it looks like JSON.
func readTransaction(r *http.Request) (string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxTokenBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", &stellar.RequestError{Msg: "request body is too large"}
		}
		return "", &stellar.RequestError{Msg: "cannot read request body"}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		(mt != "application/x-www-form-urlencoded" && strings.HasPrefix(strings.TrimSpace(string(body)), "{"))
	if isJSON {
		if err := httpjson.ValidJSON(body); err != nil {
			return "", err
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(body, &v); err != nil {
			return "", &stellar.RequestError{Msg: "body is not a JSON object"}
		}
		raw, ok := v["transaction"]
		if !ok {
			return "", &stellar.RequestError{Msg: "transaction is required"}
		}
		var tx string
		if err := json.Unmarshal(raw, &tx); err != nil || tx == "" {
			return "", &stellar.RequestError{Msg: "transaction must be a base64 XDR string"}
		}
		return tx, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", &stellar.RequestError{Msg: "body is not a valid form"}
	}
	if err := httpjson.ValidValues(form); err != nil {
		return "", err
	}
	tx := form.Get("transaction")
	if tx == "" {
		return "", &stellar.RequestError{Msg: "transaction is required"}
	}
	return tx, nil
}

// fail answers err: 400 for request errors, 503 when the ledger is unavailable, else 500.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *stellar.RequestError
	switch {
	case httpjson.TextRefusal(w, err):
	case errors.As(err, &re):
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", re.Msg)
	case errors.Is(err, stellar.ErrLedgerUnavailable):
		httpjson.Error(w, http.StatusServiceUnavailable, "ledger_unavailable", "ledger unavailable")
	default:
		h.log.ErrorContext(r.Context(), "stellar: request failed", "path", r.URL.Path, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// Refusal answers a request to an authenticated SEP endpoint that carries no valid SEP-10
// token; invalid is true when a token was sent but is not valid. Each SEP states its own
// answer (SEP-6: 403 {"type": "authentication_required"}; SEP-12: 401), so each SEP's
// handler package provides its Refusal and the route is wrapped with RequireWith.
type Refusal func(w http.ResponseWriter, r *http.Request, invalid bool)

// Require lets a request through only with a valid SEP-10 token in
// "Authorization: Bearer <JWT>", checked before anything reads the body, and puts the
// token's wallet.Identity in the request context. Otherwise it answers 401 (no or
// malformed header) or 403 (a token that is not valid), with {"error": ...}: the generic
// answer, for routes whose SEP states none (use RequireWith for those that do).
func (h *Handler) Require(next http.Handler) http.Handler {
	return h.RequireWith(refuseGeneric)(next)
}

func refuseGeneric(w http.ResponseWriter, _ *http.Request, invalid bool) {
	if invalid {
		httpjson.Error(w, http.StatusForbidden, "forbidden", "the SEP-10 token is not valid")
		return
	}
	httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "a SEP-10 token is required (Authorization: Bearer <JWT>)")
}

// RequireWith is Require with the SEP's own answer to a missing or invalid token.
func (h *Handler) RequireWith(refuse Refusal) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Every SEP response is readable from any origin, this middleware's refusals too
			// (server.CORS, outside it, marks them; this covers a caller that did not wrap).
			w.Header().Set("Access-Control-Allow-Origin", "*")
			authz := r.Header.Get("Authorization")
			scheme, token, ok := strings.Cut(authz, " ")
			token = strings.TrimSpace(token)
			if authz == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sep10"`)
				refuse(w, r, false)
				return
			}
			id, err := h.auth.Verify(token)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sep10", error="invalid_token"`)
				refuse(w, r, true)
				return
			}
			// The wallet is the actor of whatever this request changes.
			ctx := actor.With(stellar.WithIdentity(r.Context(), id), actor.Actor{Kind: actor.Wallet, Name: id.Account})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
