package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
)

// parseTime reads a time typed in a form or URL: RFC 3339, or the browser's
// datetime-local (taken as UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2026-11-29T14:00 (UTC)", s)
}

// idBefore is the smallest UUIDv7 of time t: every id made before t sorts below it, every
// id made at or after it sorts above. Ids are creation-ordered, so "created before t" is a
// keyset cursor and needs no index of its own.
func idBefore(t time.Time) string {
	ms := uint64(t.UnixMilli())
	return fmt.Sprintf("%08x-%04x-0000-0000-000000000000", ms>>16, ms&0xffff)
}

type deliveriesData struct {
	Status, Endpoint, Subject, Before string
	// Order is the list's sort and direction, with the filters its links carry.
	Order     listOrder
	Items     []callback.Delivery
	Next      string
	Endpoints []callback.Endpoint
	Statuses  []string
}

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	d := deliveriesData{Status: q.Get("status"), Endpoint: q.Get("endpoint"), Subject: q.Get("subject"), Before: q.Get("before"),
		Statuses: []string{callback.StatusPending, callback.StatusQueued, callback.StatusPaused, callback.StatusDelivered, callback.StatusFailed}}
	order, bad := readOrder(q, "/console/deliveries", descFirst, []string{callback.SortStatus, callback.SortUpdated, callback.SortAttempts},
		"subject", d.Subject, "endpoint", d.Endpoint, "status", d.Status, "before", d.Before)
	if bad != "" {
		c.fail(w, r, s, http.StatusBadRequest, bad)
		return
	}
	d.Order = order
	f := callback.Filter{Status: d.Status, EndpointID: d.Endpoint, Subject: d.Subject, Cursor: q.Get("cursor"), Limit: 50,
		Sort: order.Sort, Oldest: order.Asc}
	switch f.Status {
	case "", callback.StatusPending, callback.StatusQueued, callback.StatusPaused, callback.StatusDelivered, callback.StatusFailed:
	default:
		c.fail(w, r, s, http.StatusBadRequest, "Status must be pending, queued, paused, delivered or failed.")
		return
	}
	// "Created before" bounds the list in every order (ids are UUIDv7, so it is a bound on
	// the id), separately from the cursor that continues a page.
	if d.Before != "" {
		t, err := parseTime(d.Before)
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "Created before: "+err.Error())
			return
		}
		f.Before = idBefore(t)
	}
	var err error
	d.Items, d.Next, err = c.opts.Deliveries.Deliveries(r.Context(), f)
	if errors.Is(err, store.ErrBadCursor) {
		c.fail(w, r, s, http.StatusBadRequest, "That page link is not one the console made.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "list deliveries", err)
		return
	}
	if d.Endpoints, err = c.opts.Deliveries.Endpoints(r.Context()); err != nil {
		c.internal(w, r, s, "list endpoints", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "deliveries", d)
}

type deliveryData struct {
	D    callback.Delivery
	Body string
}

func (c *Console) delivery(w http.ResponseWriter, r *http.Request, s *Session) {
	d, err := c.opts.Deliveries.Delivery(r.Context(), r.PathValue("id"))
	if errors.Is(err, callback.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No delivery with this id.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "read the delivery", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "delivery", deliveryData{D: d, Body: prettyJSON(d.Body)})
}

func prettyJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(b)
	}
	return string(out)
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request, s *Session) {
	id := r.PathValue("id")
	d, err := c.opts.Deliveries.Delivery(r.Context(), id)
	if errors.Is(err, callback.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No delivery with this id.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "read the delivery", err)
		return
	}
	e := Entry{Action: ActionReplay, Target: "delivery:" + id, Before: d.Status, After: callback.StatusQueued, Reason: r.PostFormValue("reason")}
	err = c.act(r.Context(), s, e, func(ctx context.Context) error { return c.opts.Deliveries.Replay(ctx, id) })
	if err != nil {
		c.log.WarnContext(r.Context(), "console: replay refused", "delivery", id, "error", err)
		c.fail(w, r, s, http.StatusConflict, "This delivery cannot be replayed now: it is "+d.Status+".")
		return
	}
	redirect(w, r, "/console/deliveries/"+id, "replayed")
}

type endpointData struct {
	E       callback.Endpoint
	Since   string
	Count   int
	AtLeast bool
	Recent  []callback.Delivery
}

// replayCountCap bounds the confirmation count: beyond it the page says "at least".
const replayCountCap = 10000

// endpoint shows an endpoint's health and actions; with ?since= it counts the failed
// deliveries a replay would send again, for the confirmation.
func (c *Console) endpoint(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	ep, err := c.opts.Deliveries.Endpoint(ctx, r.PathValue("id"))
	if errors.Is(err, callback.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No endpoint with this id.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "read the endpoint", err)
		return
	}
	d := endpointData{E: ep, Since: r.URL.Query().Get("since")}
	if d.Since != "" {
		since, err := parseTime(d.Since)
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "Since: "+err.Error())
			return
		}
		d.Since = since.Format(time.RFC3339)
		// Counted through the engine's own listing (newest first), stopping at the first
		// delivery older than since: the same rows ReplayEndpoint takes.
		f := callback.Filter{Status: callback.StatusFailed, EndpointID: ep.ID, Limit: 500}
	count:
		for {
			list, next, err := c.opts.Deliveries.Deliveries(ctx, f)
			if err != nil {
				c.internal(w, r, s, "count failed deliveries", err)
				return
			}
			for _, dl := range list {
				if dl.CreatedAt.Before(since) {
					break count
				}
				d.Count++
				if d.Count >= replayCountCap {
					d.AtLeast = true
					break count
				}
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
	}
	if d.Recent, _, err = c.opts.Deliveries.Deliveries(ctx, callback.Filter{EndpointID: ep.ID, Limit: 10}); err != nil {
		c.internal(w, r, s, "list deliveries", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "endpoint", d)
}

func (c *Console) replayEndpoint(w http.ResponseWriter, r *http.Request, s *Session) {
	id := r.PathValue("id")
	since, err := parseTime(r.PostFormValue("since"))
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Since: "+err.Error())
		return
	}
	var n int64
	e := Entry{Action: ActionReplayEndpoint, Target: "endpoint:" + id,
		Before: "failed since " + since.Format(time.RFC3339) + " (confirmed count " + r.PostFormValue("expect") + ")",
		After:  "queued again", Reason: r.PostFormValue("reason")}
	err = c.act(r.Context(), s, e, func(ctx context.Context) error {
		var err error
		n, err = c.opts.Deliveries.ReplayEndpoint(ctx, id, since)
		return err
	})
	if errors.Is(err, callback.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No endpoint with this id.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "replay the endpoint", err)
		return
	}
	http.Redirect(w, r, "/console/endpoints/"+id+"?done=replayed_since&n="+strconv.FormatInt(n, 10), http.StatusSeeOther)
}

func (c *Console) setEndpoint(enable bool) sessionHandler {
	return func(w http.ResponseWriter, r *http.Request, s *Session) {
		id := r.PathValue("id")
		ep, err := c.opts.Deliveries.Endpoint(r.Context(), id)
		if errors.Is(err, callback.ErrNotFound) {
			c.fail(w, r, s, http.StatusNotFound, "No endpoint with this id.")
			return
		}
		if err != nil {
			c.internal(w, r, s, "read the endpoint", err)
			return
		}
		e := Entry{Action: ActionDisableEndpoint, Target: "endpoint:" + id, Before: ep.State, After: "disabled", Reason: r.PostFormValue("reason")}
		done := "disabled"
		if enable {
			e.Action, e.After, done = ActionEnableEndpoint, "enabled", "enabled"
		}
		err = c.act(r.Context(), s, e, func(ctx context.Context) error { return c.opts.Deliveries.SetEndpointEnabled(ctx, id, enable) })
		if err != nil {
			c.internal(w, r, s, "change the endpoint", err)
			return
		}
		redirect(w, r, "/console/endpoints/"+id, done)
	}
}
