package observer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/stellar"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// Statuses of an observed payment.
const (
	StatusMatched   = "matched"
	StatusUnmatched = "unmatched"
	// StatusHeld: a payment for a transaction that could not take it yet (on_hold, or the
	// transfer gate refused it: flag held), kept for it (transaction_id) until the hold is
	// released (ApplyHeld: then matched) or the verification ends DENIED (Unhold: then
	// unmatched).
	StatusHeld = "held"
	// StatusOutgoing: a payment from the watched account (the anchor paying out), kept so a
	// reported hash can be checked against it.
	StatusOutgoing = "outgoing"
)

// EventPaymentUnmatched is the business event for a payment to a watched account that
// matched no transaction, or that the transfer gate held back (flag held).
const EventPaymentUnmatched = "stellar_payment_unmatched"

// FlagHeld flags a payment that was for a transaction that could not take it when it arrived
// (on_hold, or the transfer gate did not let it move: a Travel Rule hold): transaction_id
// names it, reason says why; the transaction is left as it was. The payment is kept (status
// held) and applied when the hold is released; if the verification ends DENIED it stays,
// unmatched, for the operator or the business to decide.
const FlagHeld = "held"

// direction of an operation relative to the watched account.
type direction int

const (
	skip direction = iota
	incoming
	outgoing
)

// classify turns an operation into the payment it is for the watched account, if any.
func classify(account string, op *stellar.Operation) (transfer.Payment, direction) {
	if op.TransactionSuccessful != nil && !*op.TransactionSuccessful {
		return transfer.Payment{}, skip
	}
	p := transfer.Payment{OperationID: op.ID, TransactionHash: op.TransactionHash, Type: op.Type, ClosedAt: op.CreatedAt.UTC()}
	if tx := op.Transaction; tx != nil {
		p.Memo, p.MemoType, p.Envelope = tx.Memo, tx.MemoType, tx.EnvelopeXDR
		if p.MemoType == "none" {
			p.MemoType = ""
		}
	}
	switch op.Type {
	case "payment", "path_payment_strict_send", "path_payment_strict_receive":
		p.From, p.To, p.ToMuxedID, p.Amount = op.From, op.To, op.ToMuxedID, op.Amount
		p.Asset = sep38(op.AssetType, op.AssetCode, op.AssetIssuer)
		switch {
		case op.To == account:
			return p, incoming
		case op.From == account:
			return p, outgoing
		}
	case "create_claimable_balance":
		p.From, p.Amount = op.SourceAccount, op.Amount
		p.Asset = "stellar:" + op.Asset
		if op.Asset == "native" {
			p.Asset = "stellar:native"
		}
		if slices.ContainsFunc(op.Claimants, func(c stellar.Claimant) bool { return c.Destination == account }) {
			p.To = account
			return p, incoming
		}
		if op.SourceAccount == account {
			return p, outgoing
		}
	}
	return transfer.Payment{}, skip
}

// sep38 names a Horizon asset in SEP-38 form.
func sep38(typ, code, issuer string) string {
	if typ == "native" {
		return "stellar:native"
	}
	return "stellar:" + code + ":" + issuer
}

// Outcome is what one committed operation did; Options.Committed receives it.
type Outcome struct {
	Account   string
	Operation string
	// Status is matched, unmatched, outgoing, or "" for an operation that is not a payment
	// of the account; Duplicate is set when it had been recorded before (nothing changed).
	Status      string
	Duplicate   bool
	Transaction string
	Flag        string
	Reason      string
	ClosedAt    time.Time
	CommittedAt time.Time
}

// commitPage records operations of account (in cursor order) in one database transaction:
// for each, the observed payment (keyed by operation id), the transfer's change with its
// callbacks and events, the unmatched-payment event; then the cursor, once, at the last
// operation. A second commit of the same operation changes nothing (the cursor only moves
// forward), so a page committed twice — a replayed stream, two instances, a restart — is
// exactly-once per operation. Incoming payments go through the transfer gate first (outside
// the transaction, see Transfers), and the gate hears of each match after the commit.
func (o *Observer) commitPage(ctx context.Context, account string, ops []stellar.Operation) ([]Outcome, error) {
	type item struct {
		op  *stellar.Operation
		pos int64
		p   transfer.Payment
		dir direction
		adm transfer.PaymentAdmission
	}
	items := make([]item, len(ops))
	for i := range ops {
		op := &ops[i]
		pos, err := strconv.ParseInt(op.PagingToken, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("observer: operation %s: paging token %q is not a number", op.ID, op.PagingToken)
		}
		p, dir := classify(account, op)
		items[i] = item{op: op, pos: pos, p: p, dir: dir}
		if dir == incoming {
			if items[i].adm, err = o.transfers.AdmitPayment(ctx, p); err != nil {
				return nil, err
			}
		}
	}
	var (
		outs     []Outcome
		receipts []transfer.Receipt
	)
	now := o.now()
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		outs, receipts = outs[:0], receipts[:0] // a retried transaction starts over
		for _, it := range items {
			out := Outcome{Account: account, Operation: it.op.ID, ClosedAt: it.op.CreatedAt.UTC()}
			r, err := o.record(ctx, tx, it.op, it.p, it.dir, it.adm, now, &out)
			if err != nil {
				return err
			}
			if r.TransactionID != "" {
				receipts = append(receipts, r)
			}
			outs = append(outs, out)
		}
		last := items[len(items)-1]
		_, err := tx.ExecContext(ctx, `UPDATE observer_cursors SET cursor = ?, position = ?, ledger = ?,
			closed_at = ?, updated_at = ? WHERE account = ? AND position < ?`,
			last.op.PagingToken, last.pos, last.op.Ledger(), store.Micros(last.op.CreatedAt.UTC()), store.Micros(now), account, last.pos)
		if err != nil {
			return fmt.Errorf("observer: advance cursor: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	committed := o.now()
	for i := range outs {
		outs[i].CommittedAt = committed
	}
	for _, r := range receipts {
		o.transfers.PaymentReceived(ctx, r)
	}
	return outs, nil
}

// record writes one operation in tx (see commitPage) and fills out; it returns the
// transfer's receipt of a payment recorded for the first time.
func (o *Observer) record(ctx context.Context, tx *store.Tx, op *stellar.Operation, p transfer.Payment, dir direction,
	adm transfer.PaymentAdmission, now time.Time, out *Outcome) (transfer.Receipt, error) {
	if dir == skip {
		return transfer.Receipt{}, nil
	}
	status := StatusOutgoing
	if dir == incoming {
		status = StatusUnmatched // until matched below, in this same transaction
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO observed_payments (operation_id, account, type,
		transaction_hash, ledger, closed_at, from_account, to_account, to_muxed_id, asset, amount,
		source_asset, source_amount, memo_type, memo, status, transaction_id, flag, reason, observed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', ?)
		ON CONFLICT (operation_id) DO NOTHING`,
		op.ID, out.Account, op.Type, op.TransactionHash, op.Ledger(), store.Micros(out.ClosedAt),
		p.From, p.To, p.ToMuxedID, p.Asset, p.Amount, sourceAsset(op), op.SourceAmount,
		p.MemoType, p.Memo, status, store.Micros(now))
	if err != nil {
		return transfer.Receipt{}, fmt.Errorf("observer: record operation %s: %w", op.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return transfer.Receipt{}, fmt.Errorf("observer: record operation %s: %w", op.ID, err)
	}
	out.Status, out.Duplicate = status, n == 0
	if n == 0 || dir != incoming {
		return transfer.Receipt{}, nil
	}
	return o.match(ctx, tx, p, adm, out)
}

// match runs the transfer side of an incoming payment and records the result on the
// observed payment; an unmatched payment (or one the gate held back) is announced to the
// business.
func (o *Observer) match(ctx context.Context, tx *store.Tx, p transfer.Payment, adm transfer.PaymentAdmission, out *Outcome) (transfer.Receipt, error) {
	r, err := o.transfers.ReceivePaymentTx(ctx, tx, p, adm)
	if err != nil {
		return r, err
	}
	out.Transaction, out.Flag, out.Reason = r.TransactionID, r.Flag, r.Reason
	if r.TransactionID != "" {
		out.Status = StatusMatched
	}
	envelope := ""
	if r.Held != "" {
		// The payment is for this transaction, which could not take it yet: kept for it,
		// with what applying it later needs (ApplyHeld).
		out.Status, out.Transaction, out.Flag, envelope = StatusHeld, r.Held, FlagHeld, p.Envelope
	}
	_, err = tx.ExecContext(ctx, "UPDATE observed_payments SET status = ?, transaction_id = ?, flag = ?, reason = ?, envelope = ? WHERE operation_id = ?",
		out.Status, out.Transaction, out.Flag, out.Reason, envelope, p.OperationID)
	if err != nil {
		return r, fmt.Errorf("observer: record match of %s: %w", p.OperationID, err)
	}
	if r.TransactionID != "" {
		return r, nil
	}
	return r, o.announce(ctx, tx, paymentOf(p, out))
}

// announce records the business event of a payment that did not move its transaction
// (unmatched, or held) in tx.
func (o *Observer) announce(ctx context.Context, tx *store.Tx, p Payment) error {
	if o.events == nil {
		return nil
	}
	body, err := json.Marshal(struct {
		Payment Payment `json:"payment"`
	}{p})
	if err != nil {
		return fmt.Errorf("observer: event: %w", err)
	}
	err = o.events.Business(ctx, tx, callback.Message{EventID: uuid.Must(uuid.NewV7()).String(), Type: EventPaymentUnmatched,
		Subject: "stellar_account:" + p.To, OccurredAt: p.ClosedAt, Body: body})
	if err != nil {
		return fmt.Errorf("observer: record %s event: %w", EventPaymentUnmatched, err)
	}
	return nil
}

func sourceAsset(op *stellar.Operation) string {
	if op.SourceAssetType == "" {
		return ""
	}
	return sep38(op.SourceAssetType, op.SourceAssetCode, op.SourceAssetIssuer)
}

// Payment is an observed payment as operators and the business see it.
type Payment struct {
	OperationID     string    `json:"operation_id"`
	Account         string    `json:"account"`
	Type            string    `json:"type"`
	TransactionHash string    `json:"transaction_hash"`
	Ledger          int64     `json:"ledger,omitempty"`
	ClosedAt        time.Time `json:"closed_at"`
	From            string    `json:"from"`
	To              string    `json:"to"`
	ToMuxedID       string    `json:"to_muxed_id,omitempty"`
	Asset           string    `json:"asset"`
	Amount          string    `json:"amount"`
	SourceAsset     string    `json:"source_asset,omitempty"`
	SourceAmount    string    `json:"source_amount,omitempty"`
	MemoType        string    `json:"memo_type,omitempty"`
	Memo            string    `json:"memo,omitempty"`
	Status          string    `json:"status"`
	TransactionID   string    `json:"transaction_id,omitempty"`
	Flag            string    `json:"flag,omitempty"`
	Reason          string    `json:"reason,omitempty"`
	ObservedAt      time.Time `json:"observed_at"`
}

func paymentOf(p transfer.Payment, out *Outcome) Payment {
	return Payment{OperationID: p.OperationID, Account: out.Account, Type: p.Type, TransactionHash: p.TransactionHash,
		ClosedAt: p.ClosedAt, From: p.From, To: p.To, ToMuxedID: p.ToMuxedID, Asset: p.Asset, Amount: p.Amount,
		MemoType: p.MemoType, Memo: p.Memo, Status: out.Status, TransactionID: out.Transaction, Flag: out.Flag,
		Reason: out.Reason, ObservedAt: out.ClosedAt}
}

// Filter selects observed payments for operators.
type Filter struct {
	// Status is matched, unmatched or outgoing; "" is every status.
	Status string
	// Limit caps the result: 0 means 100, at most 500.
	Limit int
}

const paymentColumns = `operation_id, account, type, transaction_hash, ledger, closed_at, from_account,
	to_account, to_muxed_id, asset, amount, source_asset, source_amount, memo_type, memo, status,
	transaction_id, flag, reason, observed_at`

// Payments returns observed payments, newest first (at most 500).
func (o *Observer) Payments(ctx context.Context, f Filter) ([]Payment, error) {
	q := "SELECT " + paymentColumns + " FROM observed_payments"
	var args []any
	if f.Status != "" {
		q += " WHERE status = ?"
		args = append(args, f.Status)
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q += fmt.Sprintf(" ORDER BY observed_at DESC, operation_id DESC LIMIT %d", limit)
	rows, err := o.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("observer: list payments: %w", err)
	}
	defer rows.Close()
	out := []Payment{}
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("observer: list payments: %w", err)
	}
	return out, nil
}

// ErrNotFound: no such observed payment.
var ErrNotFound = errors.New("observer: payment not found")

// Payment returns one observed payment by operation id.
func (o *Observer) Payment(ctx context.Context, operationID string) (Payment, error) {
	p, err := scanPayment(o.db.QueryRowContext(ctx, "SELECT "+paymentColumns+" FROM observed_payments WHERE operation_id = ?", operationID))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, ErrNotFound
	}
	return p, err
}

func scanPayment(row interface{ Scan(...any) error }) (Payment, error) {
	var (
		p                  Payment
		closed, observedAt int64
	)
	err := row.Scan(&p.OperationID, &p.Account, &p.Type, &p.TransactionHash, &p.Ledger, &closed, &p.From,
		&p.To, &p.ToMuxedID, &p.Asset, &p.Amount, &p.SourceAsset, &p.SourceAmount, &p.MemoType, &p.Memo,
		&p.Status, &p.TransactionID, &p.Flag, &p.Reason, &observedAt)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, err
		}
		return p, fmt.Errorf("observer: read payment: %w", err)
	}
	p.ClosedAt, p.ObservedAt = store.FromMicros(closed), store.FromMicros(observedAt)
	return p, nil
}
