package travelrulehttp

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/vaspgate/vaspgate/internal/httpjson"
	"github.com/vaspgate/vaspgate/internal/travelrule"
)

// Register mounts the travel-rule admin API on adminAPI (which the server guards with the
// admin bearer token):
//
//	GET  /admin/v1/travel-rule/verifications/{verificationUuid}
//	GET  /admin/v1/travel-rule/verifications?status=&risk_level=&since=&cursor=&limit=
//	GET  /admin/v1/travel-rule/quarantine?cursor=&limit=
//	POST /admin/v1/travel-rule/quarantine/{id}/reprocess
//	POST /admin/v1/travel-rule/holds/{transactionId}/release   {"operator": "…", "note": "…"}
func Register(adminAPI *http.ServeMux, svc *travelrule.Service) {
	a := &admin{svc: svc}
	adminAPI.HandleFunc("GET /admin/v1/travel-rule/verifications/{verificationUuid}", a.get)
	adminAPI.HandleFunc("GET /admin/v1/travel-rule/verifications", a.list)
	adminAPI.HandleFunc("GET /admin/v1/travel-rule/quarantine", a.quarantine)
	adminAPI.HandleFunc("POST /admin/v1/travel-rule/quarantine/{id}/reprocess", a.reprocess)
	adminAPI.HandleFunc("POST /admin/v1/travel-rule/holds/{transactionId}/release", a.release)
}

// release ends the Travel Rule hold of a withdrawal on the operator's decision (see
// travelrule.Service.Release).
func (a *admin) release(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Operator string `json:"operator"`
		Note     string `json:"note"`
	}
	if r.ContentLength != 0 {
		if err := httpjson.Decode(r, 64<<10, &body); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "invalid_body", err.Error())
			return
		}
	}
	id := r.PathValue("transactionId")
	err := a.svc.Release(r.Context(), id, body.Operator, body.Note)
	var refused *travelrule.ReleaseError
	switch {
	case errors.Is(err, travelrule.ErrNoHold):
		httpjson.Error(w, http.StatusNotFound, "not_found", "the transaction has no Travel Rule hold to release")
	case errors.Is(err, travelrule.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", "no transaction with this id")
	case errors.As(err, &refused):
		httpjson.Error(w, http.StatusConflict, "release_refused", refused.Err.Error())
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, "internal", "could not release the hold")
	default:
		httpjson.Write(w, http.StatusOK, map[string]string{"transaction_id": id, "hold": "released"})
	}
}

type admin struct{ svc *travelrule.Service }

func (a *admin) get(w http.ResponseWriter, r *http.Request) {
	v, err := a.svc.Verification(r.Context(), r.PathValue("verificationUuid"))
	if errors.Is(err, travelrule.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "no verification with this uuid")
		return
	}
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "internal", "could not read the verification")
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := travelrule.Filter{Cursor: q.Get("cursor")}
	if s := q.Get("status"); s != "" {
		switch st := travelrule.Status(s); st {
		case travelrule.StatusPending, travelrule.StatusVerified, travelrule.StatusDenied, travelrule.StatusError:
			f.Status = st
		default:
			httpjson.Error(w, http.StatusBadRequest, "invalid_status", "status must be PENDING, VERIFIED, DENIED or ERROR")
			return
		}
	}
	if s := q.Get("risk_level"); s != "" {
		l, err := travelrule.ParseRiskLevel(s)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "invalid_risk_level", "risk_level must be none, low, medium, high or severe")
			return
		}
		f.RiskLevel = l
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "invalid_since", "since must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
			return
		}
		f.Since = t
	}
	limit, ok := parseLimit(w, q.Get("limit"))
	if !ok {
		return
	}
	f.Limit = limit
	items, next, err := a.svc.ListVerifications(r.Context(), f)
	if !writeErr(w, err) {
		return
	}
	if items == nil {
		items = []travelrule.VerificationView{}
	}
	httpjson.Write(w, http.StatusOK, page[travelrule.VerificationView]{Items: items, NextCursor: next})
}

func (a *admin) quarantine(w http.ResponseWriter, r *http.Request) {
	limit, ok := parseLimit(w, r.URL.Query().Get("limit"))
	if !ok {
		return
	}
	items, next, err := a.svc.ListQuarantine(r.Context(), r.URL.Query().Get("cursor"), limit)
	if !writeErr(w, err) {
		return
	}
	if items == nil {
		items = []travelrule.StoredCallback{}
	}
	httpjson.Write(w, http.StatusOK, page[travelrule.StoredCallback]{Items: items, NextCursor: next})
}

func (a *admin) reprocess(w http.ResponseWriter, r *http.Request) {
	d, err := a.svc.Reprocess(r.Context(), r.PathValue("id"))
	var still *travelrule.StillQuarantinedError
	switch {
	case errors.Is(err, travelrule.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "not_found", "no quarantined callback with this id")
	case errors.As(err, &still):
		httpjson.Error(w, http.StatusConflict, "still_quarantined", "the callback still cannot be processed: "+string(still.Problem))
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, "internal", "could not reprocess the callback")
	default:
		httpjson.Write(w, http.StatusOK, map[string]string{
			"id": r.PathValue("id"), "callback_type": d.Type, "verification_uuid": d.VerificationUUID, "state": "pending",
		})
	}
}

func parseLimit(w http.ResponseWriter, s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		httpjson.Error(w, http.StatusBadRequest, "invalid_limit", "limit must be a positive integer (at most 500)")
		return 0, false
	}
	return n, true
}

// writeErr answers err when there is one and reports whether the caller may go on.
func writeErr(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, travelrule.ErrBadCursor):
		httpjson.Error(w, http.StatusBadRequest, "invalid_cursor", "cursor is not one this API returned")
	default:
		httpjson.Error(w, http.StatusInternalServerError, "internal", "could not list")
	}
	return false
}
