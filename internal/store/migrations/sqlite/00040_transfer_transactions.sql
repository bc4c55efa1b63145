-- +goose Up
-- transfer_transactions holds SEP-6 transactions. The columns are what queries filter or
-- sort on; data is the whole transaction as JSON (the source of truth for everything else).
-- version serialises concurrent changes (optimistic locking: UPDATE ... WHERE version = ?)
-- and doubles as the per-transaction sequence carried by events.
CREATE TABLE transfer_transactions (
    id                      TEXT PRIMARY KEY,
    sep                     TEXT NOT NULL,
    kind                    TEXT NOT NULL,
    status                  TEXT NOT NULL,
    version                 BIGINT NOT NULL,
    owner_account           TEXT NOT NULL,
    owner_memo              TEXT NOT NULL,
    client_domain           TEXT NOT NULL,
    asset_code              TEXT NOT NULL,
    customer_id             TEXT NOT NULL,
    stellar_transaction_id  TEXT NOT NULL,
    external_transaction_id TEXT NOT NULL,
    started_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    completed_at            BIGINT,
    transfer_received_at    BIGINT,
    user_action_required_by BIGINT,
    data                    TEXT NOT NULL
);
CREATE INDEX transfer_transactions_owner ON transfer_transactions (owner_account, owner_memo, id);
CREATE INDEX transfer_transactions_status ON transfer_transactions (status, id);
CREATE INDEX transfer_transactions_stellar_tx ON transfer_transactions (stellar_transaction_id);
CREATE INDEX transfer_transactions_external_tx ON transfer_transactions (external_transaction_id);

-- +goose Down
DROP TABLE transfer_transactions;
