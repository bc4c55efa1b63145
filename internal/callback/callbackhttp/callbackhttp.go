// Package callbackhttp serves the delivery engine's admin REST API: list and inspect
// deliveries with their attempt log, replay one or an endpoint's failures since a time, list
// endpoints and enable or disable them. It registers on the admin API mux, which already
// requires the admin bearer token.
package callbackhttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Engine is what the handlers need; *callback.Admin (and so *callback.Engine) implements it.
type Engine interface {
	Deliveries(ctx context.Context, f callback.Filter) ([]callback.Delivery, string, error)
	Delivery(ctx context.Context, id string) (callback.Delivery, error)
	Replay(ctx context.Context, id string) error
	Endpoints(ctx context.Context) ([]callback.Endpoint, error)
	Endpoint(ctx context.Context, id string) (callback.Endpoint, error)
	ReplayEndpoint(ctx context.Context, id string, since time.Time) (int64, error)
	SetEndpointEnabled(ctx context.Context, id string, enabled bool) error
}

// Register adds the routes to mux (the admin API mux, behind the admin token).
func Register(mux *http.ServeMux, e Engine) {
	h := handler{e}
	mux.HandleFunc("GET /admin/v1/deliveries", h.list)
	mux.HandleFunc("GET /admin/v1/deliveries/{id}", h.show)
	mux.HandleFunc("POST /admin/v1/deliveries/{id}/replay", h.replay)
	mux.HandleFunc("GET /admin/v1/endpoints", h.endpoints)
	mux.HandleFunc("POST /admin/v1/endpoints/{id}/replay", h.replayEndpoint)
	mux.HandleFunc("POST /admin/v1/endpoints/{id}/enable", h.enable(true))
	mux.HandleFunc("POST /admin/v1/endpoints/{id}/disable", h.enable(false))
}

type handler struct{ e Engine }

// DeliveryJSON is a delivery as the API shows it: the stored body as JSON (it was checked
// to be JSON when recorded) and every attempt.
type DeliveryJSON struct {
	callback.Delivery
	Body json.RawMessage `json:"body,omitempty"`
}

func (h handler) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, callback.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
}

func (h handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := callback.Filter{Status: q.Get("status"), EndpointID: q.Get("endpoint"), Subject: q.Get("subject"), Cursor: q.Get("cursor")}
	switch f.Status {
	case "", callback.StatusPending, callback.StatusQueued, callback.StatusPaused, callback.StatusDelivered, callback.StatusFailed:
	default:
		httpjson.Error(w, http.StatusBadRequest, "invalid_status", "status must be pending, queued, paused, delivered or failed")
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			httpjson.Error(w, http.StatusBadRequest, "invalid_limit", "limit must be a number from 1 to 500")
			return
		}
		f.Limit = n
	}
	// The console's orders: sort=status|updated|attempts (creation when absent), order=asc
	// (newest or highest first when absent); the cursor continues the same order.
	f.Sort = q.Get("sort")
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		f.Oldest = true
	default:
		httpjson.Error(w, http.StatusBadRequest, "invalid_order", "order must be asc or desc")
		return
	}
	list, next, err := h.e.Deliveries(r.Context(), f)
	switch {
	case errors.Is(err, callback.ErrBadSort):
		httpjson.Error(w, http.StatusBadRequest, "invalid_sort", "sort must be status, updated or attempts (or absent: by creation)")
		return
	case errors.Is(err, store.ErrBadCursor):
		httpjson.Error(w, http.StatusBadRequest, "invalid_cursor", "cursor is not one this list made")
		return
	case err != nil:
		h.fail(w, err)
		return
	}
	if list == nil {
		list = []callback.Delivery{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"deliveries": list, "next_cursor": next})
}

func (h handler) show(w http.ResponseWriter, r *http.Request) {
	d, err := h.e.Delivery(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	out := DeliveryJSON{Delivery: d}
	if json.Valid(d.Body) {
		out.Body = d.Body
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (h handler) replay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := h.e.Replay(r.Context(), id); err != nil {
		if errors.Is(err, callback.ErrNotFound) {
			h.fail(w, err)
			return
		}
		httpjson.Error(w, http.StatusConflict, "not_replayable", err.Error())
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]any{"replayed": id})
}

func (h handler) endpoints(w http.ResponseWriter, r *http.Request) {
	list, err := h.e.Endpoints(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	if list == nil {
		list = []callback.Endpoint{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"endpoints": list})
}

func (h handler) replayEndpoint(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "invalid_since", "since must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
			return
		}
		since = t
	}
	n, err := h.e.ReplayEndpoint(r.Context(), r.PathValue("id"), since)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]any{"replayed": n})
}

func (h handler) enable(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := h.e.SetEndpointEnabled(r.Context(), id, on); err != nil {
			h.fail(w, err)
			return
		}
		ep, err := h.e.Endpoint(r.Context(), id)
		if err != nil {
			h.fail(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, ep)
	}
}
