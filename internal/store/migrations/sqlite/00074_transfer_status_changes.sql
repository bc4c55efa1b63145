-- +goose Up
-- transfer_status_changes: every status a SEP-6 transaction took, and who caused it (the
-- wallet, the business, an operator or the system), written in the same database
-- transaction as the change. version is the transaction's version after the change, so
-- (transaction_id, version) is unique and orders the timeline. The console reads it.
CREATE TABLE transfer_status_changes (
    transaction_id TEXT NOT NULL,
    version        BIGINT NOT NULL,
    at             BIGINT NOT NULL,
    from_status    TEXT NOT NULL,
    to_status      TEXT NOT NULL,
    actor_kind     TEXT NOT NULL,
    actor_name     TEXT NOT NULL,
    PRIMARY KEY (transaction_id, version)
);

-- +goose Down
DROP TABLE transfer_status_changes;
