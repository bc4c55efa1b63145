package observer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/transfer"
)

// ApplyHeld applies the payment kept for transaction id (status held, the oldest first) now
// that the transaction's hold is released: in one database transaction the observed payment
// becomes matched (only while it is still held, so it is applied once however many releases
// race) and the transaction moves as the observer would have moved it on arrival
// (transfer.Service.ReceiveHeldPaymentTx: amount_in, transfer_received_at,
// stellar_transactions, callbacks and business event through the outbox), with message
// first in its message; the gate hears of it after the commit, with ctx. It returns false
// (and no error) when the transaction has no held payment, and
// transfer.ErrPaymentNotApplicable (nothing changed) when the transaction can no longer
// take it.
func (o *Observer) ApplyHeld(ctx context.Context, id, message string) (bool, error) {
	var (
		r       transfer.Receipt
		applied bool
	)
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		applied = false
		var envelope string
		p, err := scanPayment(extra{tx.QueryRowContext(ctx, "SELECT "+paymentColumns+`, envelope FROM observed_payments
		WHERE transaction_id = ? AND status = ? ORDER BY closed_at, operation_id LIMIT 1`, id, StatusHeld), []any{&envelope}})
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		// Claim it first: a second release waits here for this one and finds it matched.
		res, err := tx.ExecContext(ctx, "UPDATE observed_payments SET status = ?, envelope = '' WHERE operation_id = ? AND status = ?",
			StatusMatched, p.OperationID, StatusHeld)
		if err != nil {
			return fmt.Errorf("observer: apply held payment %s: %w", p.OperationID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		r, err = o.transfers.ReceiveHeldPaymentTx(ctx, tx, id, transfer.Payment{OperationID: p.OperationID,
			TransactionHash: p.TransactionHash, Type: p.Type, From: p.From, To: p.To, ToMuxedID: p.ToMuxedID,
			Asset: p.Asset, Amount: p.Amount, Memo: p.Memo, MemoType: p.MemoType, ClosedAt: p.ClosedAt, Envelope: envelope}, message)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE observed_payments SET flag = ?, reason = '' WHERE operation_id = ?", r.Flag, p.OperationID); err != nil {
			return fmt.Errorf("observer: apply held payment %s: %w", p.OperationID, err)
		}
		applied = true
		return nil
	})
	if err != nil || !applied {
		return false, err
	}
	o.transfers.PaymentReceived(ctx, r)
	return true, nil
}

// Unhold settles the payments still kept for transaction id once they will not be applied
// by ApplyHeld: its Travel Rule verification ended DENIED, or the transaction left on_hold
// another way (the business's own method). A kept payment whose Stellar transaction is
// recorded (the hash the transaction now records, "" for none) is the one the business
// applied: it becomes matched. Each other one becomes unmatched (flag held, transaction_id
// kept) with reason and is announced to the business as an unmatched payment is; all in
// one database transaction. It returns how many payments it settled.
func (o *Observer) Unhold(ctx context.Context, id, recorded, reason string) (int, error) {
	var n int
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, "SELECT "+paymentColumns+" FROM observed_payments WHERE transaction_id = ? AND status = ? ORDER BY closed_at, operation_id", id, StatusHeld)
		if err != nil {
			return fmt.Errorf("observer: held payments of %s: %w", id, err)
		}
		var held []Payment
		for rows.Next() {
			p, err := scanPayment(rows)
			if err != nil {
				rows.Close()
				return err
			}
			held = append(held, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("observer: held payments of %s: %w", id, err)
		}
		for _, p := range held {
			p.Status, p.Flag, p.Reason = StatusUnmatched, FlagHeld, reason
			if recorded != "" && p.TransactionHash == recorded {
				p.Status, p.Flag, p.Reason = StatusMatched, "", ""
			}
			if _, err := tx.ExecContext(ctx, "UPDATE observed_payments SET status = ?, flag = ?, reason = ?, envelope = '' WHERE operation_id = ? AND status = ?",
				p.Status, p.Flag, p.Reason, p.OperationID, StatusHeld); err != nil {
				return fmt.Errorf("observer: unhold payment %s: %w", p.OperationID, err)
			}
			if p.Status == StatusUnmatched {
				if err := o.announce(ctx, tx, p); err != nil {
					return err
				}
			}
		}
		n = len(held)
		return nil
	})
	return n, err
}

// extra scans a row into a payment's columns and then into more destinations.
type extra struct {
	row  interface{ Scan(...any) error }
	dest []any
}

func (e extra) Scan(d ...any) error { return e.row.Scan(append(d, e.dest...)...) }
