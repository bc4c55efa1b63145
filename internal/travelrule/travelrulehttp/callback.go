// Package travelrulehttp is the HTTP face of the travel-rule receiver: the enclave callback
// endpoint (its own token check, mounted without admin auth) and the admin API routes.
package travelrulehttp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/server"
	"github.com/vaspgate/vaspgate/internal/travelrule"
)

// CallbackConfig configures the enclave callback endpoint.
type CallbackConfig struct {
	// Tokens are the accepted VEGA_VERIFICATION_AUTHORIZATION_TOKEN values (two during a
	// rotation). At least one is required: without a token the receiver is off.
	Tokens []string
	// Header is VEGA_VERIFICATION_AUTHORIZATION_KEY: the header carrying the token. Empty
	// means "Authorization: Bearer <token>".
	Header string
	// AllowCIDRs, when not empty, are the only source networks accepted (the enclave hosts).
	AllowCIDRs []netip.Prefix
	// MaxBodyBytes is the size limit (travel_rule.max_body_bytes); larger bodies are kept
	// truncated and quarantined. Required.
	MaxBodyBytes int64
	// Logger; default slog.Default(). Bodies and tokens are never logged.
	Logger *slog.Logger
}

// ErrNoToken is returned by NewCallbackHandler when no token is configured.
var ErrNoToken = errors.New("travelrulehttp: no enclave authorization token configured: the callback receiver is off")

// ResponseOK is the only answer the enclave accepts, byte for byte as the vendor documents it.
const ResponseOK = `{"result": true}`

type callbackHandler struct {
	svc    *travelrule.Service
	cfg    CallbackConfig
	tokens server.Tokens
	log    *slog.Logger
}

// NewCallbackHandler returns the handler for POST on VEGA_VERIFICATION_CALLBACK_API_PATH.
// Mount it on the admin listener without admin auth: it checks the enclave token itself
// (constant time), answers 401 (403 outside AllowCIDRs) without reading or storing the body,
// and answers every authenticated request 200 {"result": true} once the body is durably
// stored, whatever it contains. Only when neither the database nor the spool can take the
// body does it answer 503, so that the enclave retries.
func NewCallbackHandler(svc *travelrule.Service, cfg CallbackConfig) (http.Handler, error) {
	h := &callbackHandler{svc: svc, cfg: cfg, log: cfg.Logger}
	h.tokens = server.NewTokens(cfg.Tokens...)
	if h.tokens.Empty() {
		return nil, ErrNoToken
	}
	if h.cfg.MaxBodyBytes <= 0 {
		// travel_rule.max_body_bytes: config is the one home of its default.
		return nil, errors.New("travelrulehttp: MaxBodyBytes must be positive")
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "travelrule")
	return h, nil
}

func (h *callbackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if reason := h.refuse(r); reason != "" {
		h.svc.CountRejected(reason)
		h.log.Warn("travel rule callback refused", "reason", reason, "remote", r.RemoteAddr)
		w.Header().Set("Connection", "close")
		status := http.StatusUnauthorized
		if reason == "source_not_allowed" {
			status = http.StatusForbidden
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":"unauthorized","code":"`+reason+`"}`)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBodyBytes+1))
	truncated := int64(len(body)) > h.cfg.MaxBodyBytes
	size := int64(len(body))
	if truncated {
		// Keep the first bytes and do not read the rest: the budget is one second.
		body = body[:h.cfg.MaxBodyBytes]
		w.Header().Set("Connection", "close")
	} else if err != nil {
		// The enclave went away mid-body; what arrived is kept like any unparsable body.
		h.log.Warn("travel rule callback body read failed", "err", err)
	}
	ack, err := h.svc.Accept(context.WithoutCancel(r.Context()), body, truncated, size)
	if err != nil {
		h.svc.CountRejected("not_durable")
		h.log.Error("travel rule callback not acknowledged: not stored", "err", err)
		http.Error(w, `{"error":"not stored, retry","code":"unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	if ack.Problem != travelrule.ProblemNone && ack.Outcome != travelrule.OutcomeDuplicate {
		h.log.Warn("travel rule callback quarantined", "id", ack.ID, "type", ack.Type, "problem", ack.Problem)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ResponseOK)
	h.svc.ObserveAck(time.Since(start).Seconds())
}

// refuse returns why r is not accepted ("" when it is).
func (h *callbackHandler) refuse(r *http.Request) string {
	if len(h.cfg.AllowCIDRs) > 0 {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		addr, perr := netip.ParseAddr(host)
		if err != nil || perr != nil {
			return "source_not_allowed"
		}
		addr = addr.Unmap()
		ok := false
		for _, p := range h.cfg.AllowCIDRs {
			if p.Contains(addr) {
				ok = true
				break
			}
		}
		if !ok {
			return "source_not_allowed"
		}
	}
	var token string
	if h.cfg.Header == "" || strings.EqualFold(h.cfg.Header, "Authorization") {
		v := r.Header.Get("Authorization")
		if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
			if v == "" {
				return "missing_token"
			}
			return "wrong_token"
		}
		token = strings.TrimSpace(v[7:])
	} else {
		token = strings.TrimSpace(r.Header.Get(h.cfg.Header))
		if len(token) > 7 && strings.EqualFold(token[:7], "Bearer ") {
			token = strings.TrimSpace(token[7:])
		}
	}
	if token == "" {
		return "missing_token"
	}
	if !h.tokens.Match(token) {
		return "wrong_token"
	}
	return ""
}
