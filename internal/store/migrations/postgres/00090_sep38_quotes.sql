-- +goose Up
-- sep38_quotes holds SEP-38 firm quotes. The columns are what lookups filter on: the owner
-- (a quote is read and used only by the identity that asked for it), its expiry, and the
-- transaction that used it (empty until one does; a quote serves one transaction only).
-- data is the whole quote as JSON.
CREATE TABLE sep38_quotes (
    id             TEXT PRIMARY KEY,
    owner_account  TEXT NOT NULL,
    owner_memo     TEXT NOT NULL,
    context        TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    transaction_id TEXT NOT NULL,
    data           TEXT NOT NULL
);
CREATE INDEX sep38_quotes_owner ON sep38_quotes (owner_account, owner_memo, id);

-- +goose Down
DROP TABLE sep38_quotes;
