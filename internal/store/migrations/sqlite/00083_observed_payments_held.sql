-- +goose Up
-- observed_payments gains what a payment kept for a held transaction (status held: the
-- transaction was on_hold, or the transfer gate refused it) needs to be applied later as the
-- observer would have applied it: the Stellar transaction's envelope (recorded in the
-- transfer's stellar_transactions), and an index to find a transaction's held payment when
-- its hold is released or its verification ends DENIED.
ALTER TABLE observed_payments ADD COLUMN envelope TEXT NOT NULL DEFAULT '';
CREATE INDEX observed_payments_transaction ON observed_payments (transaction_id, status);

-- +goose Down
DROP INDEX observed_payments_transaction;
ALTER TABLE observed_payments DROP COLUMN envelope;
