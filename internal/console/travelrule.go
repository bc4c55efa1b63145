package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/vaspgate/vaspgate/internal/travelrule"
)

type verificationsData struct {
	Status, Risk, Since string
	// Order is the list's sort (by update unless status or risk) and direction.
	Order           listOrder
	Items           []travelrule.VerificationView
	Next            string
	Statuses, Risks []string
}

func (c *Console) verifications(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	d := verificationsData{Status: q.Get("status"), Risk: q.Get("risk"), Since: q.Get("since"),
		Statuses: []string{string(travelrule.StatusPending), string(travelrule.StatusVerified), string(travelrule.StatusDenied), string(travelrule.StatusError)},
		Risks:    []string{"none", "low", "medium", "high", "severe"}}
	order, bad := readOrder(q, "/console/travel-rule", descFirst, []string{travelrule.SortStatus, travelrule.SortRisk},
		"status", d.Status, "risk", d.Risk, "since", d.Since)
	if bad != "" {
		c.fail(w, r, s, http.StatusBadRequest, bad)
		return
	}
	d.Order = order
	f := travelrule.Filter{Status: travelrule.Status(d.Status), Cursor: q.Get("cursor"), Limit: pageSize, Sort: order.Sort, Desc: !order.Asc}
	if d.Risk != "" {
		l, err := travelrule.ParseRiskLevel(d.Risk)
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "Risk must be none, low, medium, high or severe.")
			return
		}
		f.RiskLevel = l
	}
	if d.Since != "" {
		t, err := parseTime(d.Since)
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "Updated since: "+err.Error())
			return
		}
		f.Since = t
	}
	var err error
	d.Items, d.Next, err = c.opts.TravelRule.ListVerifications(r.Context(), f)
	if errors.Is(err, travelrule.ErrBadCursor) {
		c.fail(w, r, s, http.StatusBadRequest, "That page link is not one the console made.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "list verifications", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "verifications", d)
}

type verificationData struct {
	V         travelrule.VerificationView
	Screening string
	// IVMS101 is the sealed originator/beneficiary data, shown once revealed.
	IVMS101  string
	Revealed bool
	HasIVMS  bool
	Audit    []Entry
}

func (c *Console) verification(w http.ResponseWriter, r *http.Request, s *Session) {
	c.showVerification(w, r, s, false)
}

func (c *Console) showVerification(w http.ResponseWriter, r *http.Request, s *Session, reveal bool) {
	ctx := r.Context()
	id := r.PathValue("uuid")
	v, err := c.opts.TravelRule.Verification(ctx, id)
	if errors.Is(err, travelrule.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No verification with this uuid.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "read the verification", err)
		return
	}
	d := verificationData{V: v, Screening: prettyJSON(v.Screening), HasIVMS: len(v.IVMS101) > 0 && string(v.IVMS101) != "null"}
	if reveal && d.HasIVMS {
		d.IVMS101, d.Revealed = prettyJSON(v.IVMS101), true
	}
	// The view carries the personal data whoever asks; it stays on the server unless revealed.
	d.V.IVMS101 = nil
	if d.Audit, _, err = c.Audit(ctx, AuditFilter{Target: "verification:" + id, Limit: 20}); err != nil {
		c.internal(w, r, s, "read the audit log", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "verification", d)
}

func (c *Console) revealIVMS(w http.ResponseWriter, r *http.Request, s *Session) {
	id := r.PathValue("uuid")
	e := Entry{At: c.opts.Now(), Operator: s.Operator, Role: s.Role, Action: ActionRevealIVMS, Target: "verification:" + id,
		Before: "sealed", After: "shown: ivms101", Reason: r.PostFormValue("reason")}
	if err := insertAudit(r.Context(), c.opts.DB, e); err != nil {
		c.internal(w, r, s, "record the reveal", err)
		return
	}
	c.showVerification(w, r, s, true)
}

type quarantineData struct {
	Items []travelrule.StoredCallback
	Next  string
}

func (c *Console) quarantine(w http.ResponseWriter, r *http.Request, s *Session) {
	items, next, err := c.opts.TravelRule.ListQuarantine(r.Context(), r.URL.Query().Get("cursor"), pageSize)
	if errors.Is(err, travelrule.ErrBadCursor) {
		c.fail(w, r, s, http.StatusBadRequest, "That page link is not one the console made.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "list the quarantine", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "quarantine", quarantineData{Items: items, Next: next})
}

func (c *Console) reprocess(w http.ResponseWriter, r *http.Request, s *Session) {
	id := r.PathValue("id")
	var d travelrule.Decoded
	e := Entry{Action: ActionReprocess, Target: "travel_rule_callback:" + id, Before: "quarantined", After: "pending", Reason: r.PostFormValue("reason")}
	err := c.act(r.Context(), s, e, func(ctx context.Context) error {
		var err error
		d, err = c.opts.TravelRule.Reprocess(ctx, id)
		return err
	})
	var still *travelrule.StillQuarantinedError
	switch {
	case errors.Is(err, travelrule.ErrNotFound):
		c.fail(w, r, s, http.StatusNotFound, "No quarantined callback with this id.")
	case errors.As(err, &still):
		c.fail(w, r, s, http.StatusConflict, "The callback still cannot be processed: "+string(still.Problem)+". It stays in the quarantine.")
	case err != nil:
		c.internal(w, r, s, "reprocess the callback", err)
	default:
		redirect(w, r, "/console/travel-rule/"+d.VerificationUUID, "reprocess")
	}
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	order, ok := sortOrder(q)
	if !ok {
		c.fail(w, r, s, http.StatusBadRequest, badOrder)
		return
	}
	f := AuditFilter{Operator: strings.TrimSpace(q.Get("operator")), Target: strings.TrimSpace(q.Get("target")), Limit: pageSize,
		Oldest: order == orderOldest}
	if b := q.Get("before"); b != "" {
		var n int64
		if err := json.Unmarshal([]byte(b), &n); err != nil || n <= 0 {
			c.fail(w, r, s, http.StatusBadRequest, "That page link is not one the console made.")
			return
		}
		f.Before = n
	}
	items, next, err := c.Audit(r.Context(), f)
	if err != nil {
		c.internal(w, r, s, "read the audit log", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "audit", map[string]any{"Filter": f, "Items": items, "Next": next, "Order": order})
}
