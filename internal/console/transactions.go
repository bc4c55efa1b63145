package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

type transactionsData struct {
	Status, Account, Memo string
	// Order is "" (newest first) or "oldest".
	Order    string
	Items    []transfer.Transaction
	Next     string
	Statuses []string
}

func (c *Console) transactions(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	d := transactionsData{Status: q.Get("status"), Account: strings.TrimSpace(q.Get("account")), Memo: strings.TrimSpace(q.Get("memo"))}
	for _, st := range transfer.Statuses() {
		d.Statuses = append(d.Statuses, string(st))
	}
	if d.Status != "" && !transfer.Status(d.Status).Valid() {
		c.fail(w, r, s, http.StatusBadRequest, "Unknown SEP-6 status.")
		return
	}
	order, ok := sortOrder(q)
	if !ok {
		c.fail(w, r, s, http.StatusBadRequest, badOrder)
		return
	}
	d.Order = order
	list, err := c.opts.Transfers.Browse(r.Context(), transfer.BrowseFilter{Status: transfer.Status(d.Status), Account: d.Account,
		Memo: d.Memo, Before: q.Get("before_id"), Oldest: order == orderOldest, After: q.Get("before_id"), Limit: pageSize})
	if err != nil {
		c.internal(w, r, s, "list transactions", err)
		return
	}
	d.Items = list
	if len(list) == pageSize {
		d.Next = list[len(list)-1].ID
	}
	c.render(w, r, s, http.StatusOK, "transactions", d)
}

type transactionData struct {
	T transfer.Transaction
	// Verifications are the Travel Rule verifications about this transaction.
	Verifications []string
	// History is every status change with who caused it; imported transactions have
	// none, and their Timeline is read from the callbacks instead.
	History   []transfer.StatusChange
	Timeline  []statusEvent
	Callbacks []callback.Delivery
	Audit     []Entry
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
	if d.History, err = c.opts.Transfers.History(ctx, t.ID); err != nil {
		c.internal(w, r, s, "read the transaction's history", err)
		return
	}
	if d.Callbacks, d.Timeline, err = c.subjectHistory(ctx, "transaction:"+t.ID, "transaction"); err != nil {
		c.internal(w, r, s, "read the transaction's callbacks", err)
		return
	}
	if d.Audit, _, err = c.Audit(ctx, AuditFilter{Target: "transaction:" + t.ID, Limit: 20}); err != nil {
		c.internal(w, r, s, "read the audit log", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "transaction", d)
}
