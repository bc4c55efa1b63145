-- +goose Up
-- travel_rule_calls: every call between vaspgate and its enclave, both ways (the enclave's
-- Verify User Account / Verify User / Check Transaction Status, and vaspgate's requests to
-- the enclave), with the request and the answer sealed (associated data: the row id and the
-- part), what was answered, how long it took and whether the answer was the timeout fallback.
CREATE TABLE travel_rule_calls (
    id                TEXT PRIMARY KEY,
    direction         TEXT NOT NULL,
    api               TEXT NOT NULL,
    verification_uuid TEXT NOT NULL,
    transaction_id    TEXT NOT NULL,
    request           BLOB,
    response          BLOB,
    http_status       INTEGER NOT NULL,
    result            TEXT NOT NULL,
    reason            TEXT NOT NULL,
    timed_out         BOOLEAN NOT NULL,
    error             TEXT NOT NULL,
    elapsed_us        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX travel_rule_calls_verification ON travel_rule_calls (verification_uuid, created_at);
CREATE INDEX travel_rule_calls_transaction ON travel_rule_calls (transaction_id, created_at);

-- travel_rule_links: which SEP-6 transactions a verification is about (zero or more; one
-- transaction can own several verifications, e.g. after LACK-OF-INFORMATION). role is
-- originator (we send: a deposit to another VASP's customer) or beneficiary (we receive).
CREATE TABLE travel_rule_links (
    verification_uuid TEXT NOT NULL,
    transaction_id    TEXT NOT NULL,
    role              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (verification_uuid, transaction_id)
);
CREATE INDEX travel_rule_links_transaction ON travel_rule_links (transaction_id);

-- +goose Down
DROP TABLE travel_rule_links;
DROP TABLE travel_rule_calls;
