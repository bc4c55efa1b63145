-- +goose Up
-- stellar_hash_checks: a Stellar transaction the business reported (notify_onchain_funds_sent,
-- notify_refund_sent), checked against the ledger: found and paying what the transfer says
-- (verified), found and paying something else (mismatch), or never found (not_found). A hash
-- Horizon does not know yet stays pending and is looked up again at next_at.
CREATE TABLE stellar_hash_checks (
    transaction_id TEXT NOT NULL,
    hash           TEXT NOT NULL,
    method         TEXT NOT NULL,
    expect_to      TEXT NOT NULL,
    expect_asset   TEXT NOT NULL,
    expect_amount  TEXT NOT NULL,
    status         TEXT NOT NULL,
    detail         TEXT NOT NULL,
    attempts       BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    next_at        BIGINT NOT NULL,
    checked_at     BIGINT,
    PRIMARY KEY (transaction_id, hash)
);
CREATE INDEX stellar_hash_checks_due ON stellar_hash_checks (status, next_at);

-- +goose Down
DROP TABLE stellar_hash_checks;
