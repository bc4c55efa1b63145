-- +goose Up
-- The delivery engine's tables (internal/callback). The deliveries table is the queue:
-- rows are written in the business transaction (outbox) and claimed by workers.

-- callback_endpoints: one row per destination URL (wallet callback URLs, the business
-- endpoint), with its health: consecutive failures, open circuit, disabled state.
CREATE TABLE callback_endpoints (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    url             TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'enabled',
    disabled_reason TEXT NOT NULL DEFAULT '',
    failures        INTEGER NOT NULL DEFAULT 0,
    failing_since   BIGINT NOT NULL DEFAULT 0,
    circuit_until   BIGINT NOT NULL DEFAULT 0,
    trips           INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- callback_subjects hands out the per-(endpoint, subject) sequence. The upsert that takes the
-- next number row-locks this row until the business transaction ends, so numbers are
-- taken in commit order.
CREATE TABLE callback_subjects (
    endpoint_id TEXT NOT NULL,
    subject     TEXT NOT NULL,
    last_seq    BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, subject)
);

-- callback_deliveries: status is 'pending' for the one head of its (endpoint, subject) (due
-- at next_at, or in flight while leased), 'queued' behind it, then 'delivered' or 'failed'.
CREATE TABLE callback_deliveries (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES callback_endpoints (id),
    subject     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    body        BYTEA NOT NULL,
    status      TEXT NOT NULL,
    tries       INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    lease_token TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_status INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    finished_at BIGINT NOT NULL DEFAULT 0,
    UNIQUE (endpoint_id, subject, seq),
    UNIQUE (endpoint_id, event_id)
) WITH (fillfactor = 70);  -- room on each page for HOT updates (leases touch no indexed column)
CREATE INDEX callback_deliveries_due ON callback_deliveries (next_at) WHERE status = 'pending';
CREATE INDEX callback_deliveries_open ON callback_deliveries (endpoint_id, subject, seq)
    WHERE status IN ('pending', 'queued');
CREATE INDEX callback_deliveries_status ON callback_deliveries (status, id);
CREATE INDEX callback_deliveries_endpoint ON callback_deliveries (endpoint_id, created_at);

-- callback_attempts is the attempt log: every HTTP try, its answer and a capped body.
CREATE TABLE callback_attempts (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id        TEXT NOT NULL,
    n                  INTEGER NOT NULL,
    instance           TEXT NOT NULL,
    started_at         BIGINT NOT NULL,
    duration_us        BIGINT NOT NULL,
    status_code        INTEGER NOT NULL,
    outcome            TEXT NOT NULL,
    error_code         TEXT NOT NULL,
    error              TEXT NOT NULL,
    response_body      BYTEA,
    response_truncated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX callback_attempts_delivery ON callback_attempts (delivery_id, n);

-- +goose Down
DROP TABLE callback_attempts;
DROP TABLE callback_deliveries;
DROP TABLE callback_subjects;
DROP TABLE callback_endpoints;
