package rpc

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/actor"
	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// RegisterREST mounts Anchor Platform's REST platform API (PlatformController, deprecated
// there in favour of the RPC but still used by business servers such as its reference
// server) on mux: GET /transactions/{id}, GET /transactions, PATCH /transactions and
// GET /health. The same authentication as the RPC guards all but /health; PATCH goes
// through the same state machine and outbox as the RPC methods (transfer.Service.Patch).
func (s *Server) RegisterREST(mux *http.ServeMux) {
	mux.Handle("GET /transactions/{id}", s.authed(s.restGet))
	mux.Handle("GET /transactions", s.authed(s.restList))
	mux.Handle("PATCH /transactions", s.authed(s.restPatch))
	mux.HandleFunc("GET /health", s.restHealth)
}

func (s *Server) authed(fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.auth.check(r); err != nil {
			httpjson.Error(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		fn(w, r.WithContext(actor.With(r.Context(), businessActor)))
	})
}

func (s *Server) restGet(w http.ResponseWriter, r *http.Request) {
	t, err := s.transfers.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.restError(w, r, err)
		return
	}
	out := []transfer.PlatformTransaction{t.Platform()}
	s.withTravelRule(r.Context(), out)
	httpjson.Write(w, http.StatusOK, out[0])
}

func (s *Server) restList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := params{OrderBy: q.Get("order_by"), Order: q.Get("order")}
	if v := q.Get("sep"); v != "" {
		p.SEP = v
	}
	for _, v := range q["statuses"] {
		for st := range strings.SplitSeq(v, ",") {
			if st = strings.TrimSpace(st); st != "" {
				p.Statuses = append(p.Statuses, st)
			}
		}
	}
	for name, dst := range map[string]**int{"page_size": &p.PageSize, "page_number": &p.PageNumber} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				httpjson.Error(w, http.StatusBadRequest, "bad_request", name+" must be an integer")
				return
			}
			*dst = &n
		}
	}
	res, err := s.getTransactions(r.Context(), &p)
	if err != nil {
		s.restError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, res)
}

// patchBody is Anchor Platform's PatchTransactionsRequest.
type patchBody struct {
	Records []struct {
		Transaction *transfer.PatchTransaction `json:"transaction"`
	} `json:"records"`
}

func (s *Server) restPatch(w http.ResponseWriter, r *http.Request) {
	var b patchBody
	if err := httpjson.Decode(r, s.maxBody, &b); err != nil {
		if httpjson.TextRefusal(w, err) {
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if b.Records == nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "Records are missing.")
		return
	}
	if len(b.Records) > s.cfg.BatchSizeLimit {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "too many records: at most "+strconv.Itoa(s.cfg.BatchSizeLimit))
		return
	}
	// Records are applied one by one, as Anchor Platform does; each commits on its own.
	out := make([]transfer.PlatformTransaction, 0, len(b.Records))
	for _, rec := range b.Records {
		if rec.Transaction == nil {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", "Transaction is missing.")
			return
		}
		t, err := s.transfers.Patch(r.Context(), *rec.Transaction)
		if err != nil {
			s.restError(w, r, err)
			return
		}
		out = append(out, t.Platform())
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"records": out})
}

// restHealth is Anchor Platform's health check shape: checks by name, GREEN or RED, 500 when
// any is RED.
func (s *Server) restHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := "GREEN", http.StatusOK
	if err := s.transfers.DB().Ping(ctx); err != nil {
		status, code = "RED", http.StatusInternalServerError
	}
	httpjson.Write(w, code, map[string]any{
		"number_of_checks": 1,
		"checks":           map[string]any{"database": map[string]string{"status": status}},
	})
}

// restError answers a domain error with Anchor Platform's REST statuses: 404 for an unknown
// transaction, 400 for what the caller must fix (including a conflict, as Anchor Platform),
// 500 otherwise.
func (s *Server) restError(w http.ResponseWriter, r *http.Request, err error) {
	var te *transfer.TransitionError
	var ie *transfer.InvalidError
	switch {
	case errors.Is(err, transfer.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", "transaction (id="+r.PathValue("id")+") is not found")
	case errors.As(err, &te), errors.Is(err, transfer.ErrNotFunded):
		httpjson.Error(w, http.StatusBadRequest, "invalid_transition", strings.TrimPrefix(err.Error(), "transfer: "))
	case errors.As(err, &ie):
		httpjson.Error(w, http.StatusBadRequest, "bad_request", ie.Msg)
	case errors.Is(err, transfer.ErrConflict):
		httpjson.Error(w, http.StatusBadRequest, "conflict", err.Error())
	default:
		if r.Context().Err() == nil {
			s.log.ErrorContext(r.Context(), "rpc: platform REST call failed", "path", r.URL.Path, "err", err)
		}
		httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
	}
}
