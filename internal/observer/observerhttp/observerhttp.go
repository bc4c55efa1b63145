// Package observerhttp serves the payment observer's admin API: the payments it saw
// (unmatched ones for operators to resolve) and its state. It registers on the admin API
// mux, which already requires the admin bearer token.
package observerhttp

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/observer"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// Source is what the handlers read; *observer.Observer implements it.
type Source interface {
	Payments(ctx context.Context, f observer.Filter) ([]observer.Payment, error)
	Payment(ctx context.Context, operationID string) (observer.Payment, error)
	Status(ctx context.Context) observer.Report
}

// Register adds the routes to mux (the admin API mux, behind the admin token).
func Register(mux *http.ServeMux, s Source) {
	mux.HandleFunc("GET /admin/v1/observer/payments", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := observer.Filter{Status: q.Get("status")}
		switch q.Get("matched") {
		case "false":
			f.Status = observer.StatusUnmatched
		case "true":
			f.Status = observer.StatusMatched
		}
		switch f.Status {
		case "", observer.StatusMatched, observer.StatusUnmatched, observer.StatusHeld, observer.StatusOutgoing:
		default:
			httpjson.Error(w, http.StatusBadRequest, "invalid_status", "status must be matched, unmatched, held or outgoing")
			return
		}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 500 {
				httpjson.Error(w, http.StatusBadRequest, "invalid_limit", "limit must be 1 to 500")
				return
			}
			f.Limit = n
		}
		list, err := s.Payments(r.Context(), f)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"payments": list})
	})
	mux.HandleFunc("GET /admin/v1/observer/payments/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Payment(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, observer.ErrNotFound):
			httpjson.Error(w, http.StatusNotFound, "not_found", "no such observed payment")
		case err != nil:
			httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
		default:
			httpjson.Write(w, http.StatusOK, p)
		}
	})
	mux.HandleFunc("GET /admin/v1/observer/status", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, s.Status(r.Context()))
	})
}

// Checks lists the checks of reported Stellar transactions; *transfer.Service implements it.
type Checks interface {
	HashChecks(ctx context.Context, status string) ([]transfer.HashCheck, error)
}

// RegisterChecks adds GET /admin/v1/observer/hash-checks?status=pending|verified|mismatch|not_found.
func RegisterChecks(mux *http.ServeMux, c Checks) {
	mux.HandleFunc("GET /admin/v1/observer/hash-checks", func(w http.ResponseWriter, r *http.Request) {
		status := r.URL.Query().Get("status")
		switch status {
		case "", transfer.HashPending, transfer.HashVerified, transfer.HashMismatch, transfer.HashNotFound:
		default:
			httpjson.Error(w, http.StatusBadRequest, "invalid_status", "status must be pending, verified, mismatch or not_found")
			return
		}
		list, err := c.HashChecks(r.Context(), status)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"checks": list})
	})
}
