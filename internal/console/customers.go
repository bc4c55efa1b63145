package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

type customersData struct {
	Status, Type, Account, Memo string
	// Order is the list's sort and direction, with the filters its links carry.
	Order    listOrder
	Items    []kyc.Summary
	Next     string
	Statuses []string
}

var kycStatuses = []string{kyc.StatusAccepted, kyc.StatusProcessing, kyc.StatusNeedsInfo, kyc.StatusRejected}

const pageSize = 50

func (c *Console) customers(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	d := customersData{Status: q.Get("status"), Type: q.Get("type"), Account: strings.TrimSpace(q.Get("account")),
		Memo: strings.TrimSpace(q.Get("memo")), Statuses: kycStatuses}
	// The columns offered for sorting are those the KYC back end can list by (the business
	// back end by creation only): a header the back end cannot sort by is no link.
	order, bad := readOrder(q, "/console/customers", ascFirst, c.opts.Customers.Sorts(),
		"account", d.Account, "memo", d.Memo, "status", d.Status, "type", d.Type)
	if bad != "" {
		c.fail(w, r, s, http.StatusBadRequest, bad)
		return
	}
	d.Order = order
	lq := kyc.ListQuery{Status: d.Status, Type: d.Type, Account: d.Account, Memo: d.Memo, Sort: order.Sort, Desc: !order.Asc,
		Cursor: q.Get("cursor"), Limit: pageSize}
	list, err := c.opts.Customers.List(r.Context(), lq)
	var badq *kyc.BadRequestError
	if errors.As(err, &badq) {
		c.fail(w, r, s, http.StatusBadRequest, badq.Msg)
		return
	}
	if err != nil {
		c.internal(w, r, s, "list customers", err)
		return
	}
	d.Items = list
	if len(list) == pageSize {
		d.Next = kyc.NextCursor(lq, list[len(list)-1])
	}
	c.render(w, r, s, http.StatusOK, "customers", d)
}

// fieldRow is one provided field: its state, and its value only once revealed.
type fieldRow struct {
	Name     string
	Status   string
	Error    string
	Revealed bool
	Value    string
	Binary   bool
}

// statusEvent is one status the customer or transaction passed through, as recorded in
// the callbacks and events that change produced.
type statusEvent struct {
	At       string
	Status   string
	Sequence int64
}

type customerData struct {
	ID, Type     string
	Owner        wallet.Identity
	ClientDomain string
	Customer     kyc.Customer
	Fields       []fieldRow
	Timeline     []statusEvent
	Callbacks    []callback.Delivery
	Audit        []Entry
	Statuses     []string
	FieldNames   []string
}

func (c *Console) customer(w http.ResponseWriter, r *http.Request, s *Session) {
	c.showCustomer(w, r, s, "")
}

// showCustomer renders a customer; reveal names a field whose value is shown (already
// audited by the caller).
func (c *Console) showCustomer(w http.ResponseWriter, r *http.Request, s *Session, reveal string) {
	ctx := r.Context()
	id := r.PathValue("id")
	owner, domain, err := c.opts.Customers.OwnerOf(ctx, id)
	if errors.Is(err, kyc.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No customer with this id.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "read the customer", err)
		return
	}
	typ := r.URL.Query().Get("type")
	if typ == "" {
		typ = r.PostFormValue("type")
	}
	cust, err := c.opts.Customers.Fetch(ctx, kyc.Query{ID: id, Type: typ})
	var bad *kyc.BadRequestError
	if errors.As(err, &bad) {
		c.fail(w, r, s, http.StatusBadRequest, bad.Msg)
		return
	}
	if err != nil {
		c.internal(w, r, s, "read the customer", err)
		return
	}
	d := customerData{ID: id, Type: cust.Type, Owner: owner, ClientDomain: domain, Customer: cust, Statuses: kycStatuses}
	for name, f := range cust.ProvidedFields {
		row := fieldRow{Name: name, Status: f.Status, Error: f.Error}
		if name == reveal {
			v, _, err := c.opts.Customers.FieldValue(ctx, id, name)
			if errors.Is(err, kyc.ErrNotFound) {
				// With kyc.backend business the values stay at the business server (its
				// SEP-12 answer carries statuses, never values): nothing here to show.
				c.fail(w, r, s, http.StatusNotFound, "vaspgate holds no value for this field: the business server keeps it.")
				return
			}
			if err != nil {
				c.internal(w, r, s, "open the field", err)
				return
			}
			row.Revealed = true
			if utf8.Valid(v) && f.Type != "binary" {
				row.Value = string(v)
			} else {
				row.Binary, row.Value = true, "binary, "+strconv.Itoa(len(v))+" bytes"
			}
		}
		d.Fields = append(d.Fields, row)
		d.FieldNames = append(d.FieldNames, name)
	}
	sort.Slice(d.Fields, func(i, j int) bool { return d.Fields[i].Name < d.Fields[j].Name })
	slices.Sort(d.FieldNames)
	if d.Callbacks, d.Timeline, _, err = c.subjectHistory(ctx, kyc.Subject(id, cust.Type), "customer"); err != nil {
		c.internal(w, r, s, "read the customer's callbacks", err)
		return
	}
	if d.Audit, _, err = c.Audit(ctx, AuditFilter{Target: "customer:" + id, Limit: 20}); err != nil {
		c.internal(w, r, s, "read the audit log", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "customer", d)
}

// subjectHistory lists the callbacks and events recorded about a subject (newest first)
// and derives the statuses it passed through from their bodies: every status change
// records them in its own transaction, so they are its history. key is the body's object
// ("customer" in business events, the body itself in SEP-12 callbacks; "transaction").
// bodies is what each delivery whose body was read says (by delivery id).
func (c *Console) subjectHistory(ctx context.Context, subject, key string) (list []callback.Delivery, timeline []statusEvent,
	bodies map[string]statusEvent, err error) {
	list, _, err = c.opts.Deliveries.Deliveries(ctx, callback.Filter{Subject: subject, Limit: 100})
	if err != nil {
		return nil, nil, nil, err
	}
	seen := map[string]bool{}
	bodies = map[string]statusEvent{}
	for i, dl := range list {
		if i >= 40 { // enough history for a page; the deliveries list has the rest
			break
		}
		full, err := c.opts.Deliveries.Delivery(ctx, dl.ID)
		if err != nil {
			return nil, nil, nil, err
		}
		ev, ok := statusOf(full.Body, key)
		if !ok {
			continue
		}
		bodies[dl.ID] = ev
		if seen[ev.Status+"|"+ev.At] {
			continue
		}
		seen[ev.Status+"|"+ev.At] = true
		timeline = append(timeline, ev)
	}
	sort.SliceStable(timeline, func(i, j int) bool { return timeline[i].At < timeline[j].At })
	return list, timeline, bodies, nil
}

// statusOf reads status, time and sequence from a callback or event body.
func statusOf(body []byte, key string) (statusEvent, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return statusEvent{}, false
	}
	if inner, ok := m[key]; ok {
		var im map[string]json.RawMessage
		if json.Unmarshal(inner, &im) == nil {
			m = im
		}
	}
	var ev statusEvent
	_ = json.Unmarshal(m["status"], &ev.Status)
	_ = json.Unmarshal(m["updated_at"], &ev.At)
	_ = json.Unmarshal(m["sequence"], &ev.Sequence)
	return ev, ev.Status != ""
}

func (c *Console) decide(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	id := r.PathValue("id")
	dec := kyc.Decision{Type: r.PostFormValue("type"), Status: r.PostFormValue("status"), Message: strings.TrimSpace(r.PostFormValue("reason"))}
	if dec.Status == kyc.StatusNeedsInfo {
		dec.Fields = r.PostForm["fields"]
	}
	if dec.Message == "" {
		c.fail(w, r, s, http.StatusBadRequest, "A reason is required with every decision.")
		return
	}
	before, err := c.opts.Customers.Fetch(ctx, kyc.Query{ID: id, Type: dec.Type})
	if errors.Is(err, kyc.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No customer with this id.")
		return
	}
	var bad *kyc.BadRequestError
	if err != nil && !errors.As(err, &bad) {
		c.internal(w, r, s, "read the customer", err)
		return
	}
	after := dec.Status
	if len(dec.Fields) > 0 {
		after += " (send again: " + strings.Join(dec.Fields, ", ") + ")"
	}
	e := Entry{Action: ActionDecide, Target: "customer:" + id, Before: before.Status, After: after, Reason: dec.Message}
	err = c.act(ctx, s, e, func(ctx context.Context) error {
		_, err := c.opts.Customers.Decide(ctx, id, dec)
		return err
	})
	switch {
	case errors.As(err, &bad):
		c.fail(w, r, s, http.StatusBadRequest, bad.Msg)
	case errors.Is(err, kyc.ErrNotFound):
		c.fail(w, r, s, http.StatusNotFound, "No customer with this id.")
	case err != nil:
		c.internal(w, r, s, "record the decision", err)
	default:
		target := "/console/customers/" + id
		if dec.Type != "" {
			target += "?type=" + dec.Type + "&done=decided"
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		redirect(w, r, target, "decided")
	}
}

// revealField shows one sealed field to an operator. The audit row is committed before
// the value is opened: a reveal that could not be recorded does not happen.
func (c *Console) revealField(w http.ResponseWriter, r *http.Request, s *Session) {
	id, name := r.PathValue("id"), r.PostFormValue("field")
	if name == "" {
		c.fail(w, r, s, http.StatusBadRequest, "Which field?")
		return
	}
	if _, _, err := c.opts.Customers.OwnerOf(r.Context(), id); errors.Is(err, kyc.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No customer with this id.")
		return
	}
	e := Entry{At: c.opts.Now(), Operator: s.Operator, Role: s.Role, Action: ActionRevealField, Target: "customer:" + id,
		Before: "sealed", After: "shown: " + name, Reason: r.PostFormValue("reason")}
	if err := insertAudit(r.Context(), c.opts.DB, e); err != nil {
		c.internal(w, r, s, "record the reveal", err)
		return
	}
	c.showCustomer(w, r, s, name)
}
