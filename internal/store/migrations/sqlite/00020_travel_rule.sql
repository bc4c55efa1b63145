-- +goose Up
-- travel_rule_inbox: every enclave callback vaspgate acknowledged, stored before the answer.
-- A repeat is recognised by the database: the content hash (canonical JSON) and the natural
-- key with its revision are unique, so concurrent copies of one callback make one row
-- (duplicates counts the others) and a different content under one key is a new revision.
-- state: pending (to process), processed, quarantined (problem says why). body is the raw
-- request sealed with the row id as associated data (it carries personal data).
CREATE TABLE travel_rule_inbox (
    id                TEXT PRIMARY KEY,
    natural_key       TEXT NOT NULL,
    revision          INTEGER NOT NULL,
    content_sha256    BLOB NOT NULL,
    callback_type     TEXT NOT NULL,
    verification_uuid TEXT NOT NULL,
    state             TEXT NOT NULL,
    problem           TEXT NOT NULL,
    body              BLOB,
    body_size         BIGINT NOT NULL,
    truncated         BOOLEAN NOT NULL,
    duplicates        BIGINT NOT NULL DEFAULT 0,
    received_at       BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,
    redacted_at       BIGINT,
    CONSTRAINT travel_rule_inbox_key UNIQUE (natural_key, revision),
    CONSTRAINT travel_rule_inbox_content UNIQUE (content_sha256)
);
CREATE INDEX travel_rule_inbox_verification ON travel_rule_inbox (verification_uuid);
CREATE INDEX travel_rule_inbox_state ON travel_rule_inbox (state, received_at);

-- travel_rule_receipts: one row per acknowledged request (its id is made when the request
-- arrives and travels with it into the spool), so a request that reached both the database
-- and the spool is counted once when the spool is replayed. Pruned after 30 days.
CREATE TABLE travel_rule_receipts (
    id          TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);
CREATE INDEX travel_rule_receipts_received ON travel_rule_receipts (received_at);

-- travel_rule_verifications: the record derived from every callback about one verification.
-- ivms101 is sealed (associated data: the uuid) and set to NULL by the retention job.
CREATE TABLE travel_rule_verifications (
    verification_uuid TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    reason            TEXT NOT NULL,
    message           TEXT NOT NULL,
    tx_hash           TEXT NOT NULL,
    vout              TEXT NOT NULL,
    risk_level        TEXT NOT NULL,
    screening         TEXT NOT NULL,
    ivms101           BLOB,
    version           BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX travel_rule_verifications_updated ON travel_rule_verifications (updated_at, verification_uuid);

-- travel_rule_events: append-only log of the changes of each verification (no personal
-- data), written in the transaction of the change; the business event goes to the outbox in
-- the same transaction.
CREATE TABLE travel_rule_events (
    id                TEXT PRIMARY KEY,
    verification_uuid TEXT NOT NULL,
    version           BIGINT NOT NULL,
    body              TEXT NOT NULL,
    occurred_at       BIGINT NOT NULL,
    CONSTRAINT travel_rule_events_version UNIQUE (verification_uuid, version)
);

-- +goose Down
DROP TABLE travel_rule_events;
DROP TABLE travel_rule_verifications;
DROP TABLE travel_rule_receipts;
DROP TABLE travel_rule_inbox;
