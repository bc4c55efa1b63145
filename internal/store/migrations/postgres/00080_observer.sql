-- +goose Up
-- observer_leases: the payment observer runs on one instance at a time. The instance whose
-- row has not expired holds it and renews it; another takes the row over once expires_at has
-- passed (a crashed leader), or at once when the leader deletes it on a clean stop. term
-- counts take-overs, for logs and metrics.
CREATE TABLE observer_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    term       BIGINT NOT NULL
);

-- observer_cursors: per watched account, the Horizon paging token of the last operation
-- committed (cursor) and the same token as a number (position), so that a late writer can
-- never move the cursor back (UPDATE ... WHERE position < ?).
CREATE TABLE observer_cursors (
    account    TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    position   BIGINT NOT NULL,
    ledger     BIGINT NOT NULL,
    closed_at  BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- observed_payments: every payment-like operation seen on a watched account, once: the
-- operation id is the key, so a replayed stream, a restart or a second instance inserts
-- nothing the second time and the transaction change committed with the first insert is
-- not repeated. status is matched, unmatched or outgoing; flag marks a matched payment that
-- is partial or excess; reason says why an unmatched one matched nothing.
CREATE TABLE observed_payments (
    operation_id     TEXT PRIMARY KEY,
    account          TEXT NOT NULL,
    type             TEXT NOT NULL,
    transaction_hash TEXT NOT NULL,
    ledger           BIGINT NOT NULL,
    closed_at        BIGINT NOT NULL,
    from_account     TEXT NOT NULL,
    to_account       TEXT NOT NULL,
    to_muxed_id      TEXT NOT NULL,
    asset            TEXT NOT NULL,
    amount           TEXT NOT NULL,
    source_asset     TEXT NOT NULL,
    source_amount    TEXT NOT NULL,
    memo_type        TEXT NOT NULL,
    memo             TEXT NOT NULL,
    status           TEXT NOT NULL,
    transaction_id   TEXT NOT NULL,
    flag             TEXT NOT NULL,
    reason           TEXT NOT NULL,
    observed_at      BIGINT NOT NULL
);
CREATE INDEX observed_payments_status ON observed_payments (status, observed_at);
CREATE INDEX observed_payments_hash ON observed_payments (transaction_hash);

-- transfer_transactions gains where its user pays: the anchor account and the memo
-- ("type:value", normalised), so that a payment finds its transaction by index, not by
-- reading every pending withdrawal.
ALTER TABLE transfer_transactions ADD COLUMN pay_to TEXT NOT NULL DEFAULT '';
ALTER TABLE transfer_transactions ADD COLUMN pay_memo TEXT NOT NULL DEFAULT '';
CREATE INDEX transfer_transactions_pay ON transfer_transactions (pay_to, pay_memo);

-- +goose Down
DROP INDEX transfer_transactions_pay;
ALTER TABLE transfer_transactions DROP COLUMN pay_memo;
ALTER TABLE transfer_transactions DROP COLUMN pay_to;
DROP TABLE observed_payments;
DROP TABLE observer_cursors;
DROP TABLE observer_leases;
