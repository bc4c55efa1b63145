-- +goose Up
-- The operator console (internal/console).

-- console_sessions: one row per signed-in browser. The cookie holds a random token; only
-- its SHA-256 is stored, so a leaked table signs nobody in. Sessions live in the database
-- so that every instance behind a load balancer knows them.
CREATE TABLE console_sessions (
    token_sha256 BYTEA PRIMARY KEY,
    operator     TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    seen_at      BIGINT NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (seen_at);

-- console_audit: every operator action (decision, replay, enable/disable, reprocess,
-- reveal of personal data), written in the same transaction as the action.
CREATE TABLE console_audit (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    operator  TEXT NOT NULL,
    role      TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    before    TEXT NOT NULL,
    after     TEXT NOT NULL,
    reason    TEXT NOT NULL
);
CREATE INDEX console_audit_operator ON console_audit (operator, id);
CREATE INDEX console_audit_target ON console_audit (target, id);

-- Operators look deliveries up by subject ("why did the wallet not get the callback about
-- customer X?"); without this index that search reads the whole table.
CREATE INDEX callback_deliveries_subject ON callback_deliveries (subject, id);

-- +goose Down
DROP INDEX callback_deliveries_subject;
DROP TABLE console_audit;
DROP TABLE console_sessions;
