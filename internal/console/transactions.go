package console

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

type transactionsData struct {
	Status, Account, Memo, Before string
	// Order is the list's sort and direction, with the filters its links carry.
	Order    listOrder
	Items    []transfer.Transaction
	Next     string
	Statuses []string
}

func (c *Console) transactions(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	d := transactionsData{Status: q.Get("status"), Account: strings.TrimSpace(q.Get("account")), Memo: strings.TrimSpace(q.Get("memo")),
		Before: q.Get("before")}
	for _, st := range transfer.Statuses() {
		d.Statuses = append(d.Statuses, string(st))
	}
	if d.Status != "" && !transfer.Status(d.Status).Valid() {
		c.fail(w, r, s, http.StatusBadRequest, "Unknown SEP-6 status.")
		return
	}
	order, bad := readOrder(q, "/console/transactions", descFirst, []string{transfer.BrowseStatus, transfer.BrowseUpdated},
		"account", d.Account, "memo", d.Memo, "status", d.Status, "before", d.Before)
	if bad != "" {
		c.fail(w, r, s, http.StatusBadRequest, bad)
		return
	}
	d.Order = order
	f := transfer.BrowseFilter{Status: transfer.Status(d.Status), Account: d.Account, Memo: d.Memo, Sort: order.Sort, Oldest: order.Asc,
		Cursor: q.Get("cursor"), Limit: pageSize}
	if d.Before != "" {
		t, err := parseTime(d.Before)
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "Started before: "+err.Error())
			return
		}
		f.Before = idBefore(t)
	}
	var err error
	d.Items, d.Next, err = c.opts.Transfers.Browse(r.Context(), f)
	if errors.Is(err, store.ErrBadCursor) {
		c.fail(w, r, s, http.StatusBadRequest, "That page link is not one the console made.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "list transactions", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "transactions", d)
}

type transactionData struct {
	T transfer.Transaction
	// Verifications are the Travel Rule verifications about this transaction.
	Verifications []string
	// Changes is every recorded status change (oldest first) with who caused it and the
	// callbacks and events it produced; imported transactions have none, and their
	// Timeline is read from the callbacks instead.
	Changes  []statusChange
	Timeline []statusEvent
	// Unplaced are the callbacks no recorded change explains (an imported transaction's,
	// or a change older than the history shown).
	Unplaced  []callback.Delivery
	Callbacks []callback.Delivery
	Audit     []Entry
}

// statusChange is one status change and the callbacks and events it produced: the
// deliveries recorded in its database transaction, whose bodies carry the transaction as
// that change left it (updated_at is the change's time). Later carries those of later
// changes that kept the status (amounts, message, refunds).
type statusChange struct {
	transfer.StatusChange
	Caused []callback.Delivery
	Later  []callback.Delivery
}

func (c *Console) transaction(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	t, err := c.opts.Transfers.Get(ctx, r.PathValue("id"))
	if errors.Is(err, transfer.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "No transaction with this id.")
		return
	}
	if err != nil {
		c.internal(w, r, s, "read the transaction", err)
		return
	}
	d := transactionData{T: t}
	if d.Verifications, err = c.opts.TravelRule.TransactionVerifications(ctx, t.ID); err != nil {
		c.internal(w, r, s, "read the transaction's Travel Rule verifications", err)
		return
	}
	history, err := c.opts.Transfers.History(ctx, t.ID)
	if err != nil {
		c.internal(w, r, s, "read the transaction's history", err)
		return
	}
	var bodies map[string]statusEvent
	if d.Callbacks, d.Timeline, bodies, err = c.subjectHistory(ctx, "transaction:"+t.ID, "transaction"); err != nil {
		c.internal(w, r, s, "read the transaction's callbacks", err)
		return
	}
	d.Changes, d.Unplaced = groupByChange(history, d.Callbacks, bodies)
	if d.Audit, _, err = c.Audit(ctx, AuditFilter{Target: "transaction:" + t.ID, Limit: 20}); err != nil {
		c.internal(w, r, s, "read the audit log", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "transaction", d)
}

// groupByChange puts each callback under the status change that produced it: the change
// whose time is the updated_at its body carries (one database transaction wrote both, with
// one clock reading), else — a change that kept the status — the last change before it.
// Callbacks whose body was not read, or older than every change, are returned unplaced.
// list is newest first; each group's callbacks come out in the order they were recorded.
func groupByChange(history []transfer.StatusChange, list []callback.Delivery, bodies map[string]statusEvent) ([]statusChange, []callback.Delivery) {
	changes := make([]statusChange, len(history))
	at := make(map[time.Time]int, len(history))
	for i, h := range history {
		changes[i].StatusChange = h
		at[h.At.UTC().Truncate(time.Microsecond)] = i
	}
	var unplaced []callback.Delivery
	for _, dl := range slices.Backward(list) {
		ev, ok := bodies[dl.ID]
		when, err := time.Parse(time.RFC3339Nano, ev.At)
		if !ok || err != nil {
			unplaced = append(unplaced, dl)
			continue
		}
		when = when.UTC().Truncate(time.Microsecond)
		if i, ok := at[when]; ok && string(changes[i].To) == ev.Status {
			changes[i].Caused = append(changes[i].Caused, dl)
			continue
		}
		i := sort.Search(len(changes), func(i int) bool { return changes[i].At.After(when) }) - 1
		if i < 0 {
			unplaced = append(unplaced, dl)
			continue
		}
		changes[i].Later = append(changes[i].Later, dl)
	}
	return changes, unplaced
}
