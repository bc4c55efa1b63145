-- +goose Up
-- kyc_customers: every SEP-12 customer vaspgate knows and its owner (SEP-10 account and
-- memo or muxed id, and the verified client domain at creation). With the business back end
-- the id comes from the business server and this row is only the owner record that every
-- lookup by id is checked against.
CREATE TABLE kyc_customers (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL,
    memo          TEXT NOT NULL,
    client_domain TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX kyc_customers_owner ON kyc_customers (account, memo);

-- kyc_identities maps one identity (account, memo) to its builtin customer: PUT /customer is
-- idempotent through this unique key.
CREATE TABLE kyc_identities (
    account     TEXT NOT NULL,
    memo        TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES kyc_customers (id) ON DELETE CASCADE,
    PRIMARY KEY (account, memo)
);

-- kyc_customer_types: the builtin status of a customer per type.
CREATE TABLE kyc_customer_types (
    customer_id TEXT NOT NULL REFERENCES kyc_customers (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    message     TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (customer_id, type)
);

-- kyc_fields: builtin SEP-9 values, sealed (AES-256-GCM, associated data customer id and
-- field name).
CREATE TABLE kyc_fields (
    customer_id  TEXT NOT NULL REFERENCES kyc_customers (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    value        BYTEA NOT NULL,
    content_type TEXT NOT NULL,
    status       TEXT NOT NULL,
    error        TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (customer_id, name)
);

-- kyc_snapshots: the last GET /customer body recorded per customer and type (sealed), and
-- its status, so a callback is made only when the status really changes.
CREATE TABLE kyc_snapshots (
    customer_id TEXT NOT NULL,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    body        BYTEA NOT NULL,
    sequence    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (customer_id, type)
);

-- kyc_callbacks: the URL a wallet registered with PUT /customer/callback; ended_at is set
-- once the callback carrying ACCEPTED or REJECTED has been recorded.
CREATE TABLE kyc_callbacks (
    customer_id   TEXT PRIMARY KEY REFERENCES kyc_customers (id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    ended_at      BIGINT
);

-- kyc_files: uploads of POST /customer/files, sealed; expires_at is cleared once a PUT
-- /customer references the file.
CREATE TABLE kyc_files (
    id           TEXT PRIMARY KEY,
    account      TEXT NOT NULL,
    memo         TEXT NOT NULL,
    customer_id  TEXT,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    data         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT
);
CREATE INDEX kyc_files_customer ON kyc_files (customer_id);
CREATE INDEX kyc_files_expires ON kyc_files (expires_at);

-- +goose Down
DROP TABLE kyc_files;
DROP TABLE kyc_callbacks;
DROP TABLE kyc_snapshots;
DROP TABLE kyc_fields;
DROP TABLE kyc_customer_types;
DROP TABLE kyc_identities;
DROP TABLE kyc_customers;
