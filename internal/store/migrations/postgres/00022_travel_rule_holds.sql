-- +goose Up
-- travel_rule_holds: a SEP-6 withdrawal put on hold because the risk of a verification about
-- it (KYT/WCO) reached travel_rule.hold_at, once per (transaction, verification), and how the
-- hold ended: released_by is "operator" (admin API) or "business:<method>" (the RPC method
-- that took the transaction out of on_hold), with the operator's note.
CREATE TABLE travel_rule_holds (
    transaction_id    TEXT NOT NULL,
    verification_uuid TEXT NOT NULL,
    risk_level        TEXT NOT NULL,
    reason            TEXT NOT NULL,
    held_at           BIGINT NOT NULL,
    released_at       BIGINT,
    released_by       TEXT NOT NULL DEFAULT '',
    note              TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (transaction_id, verification_uuid)
);

-- +goose Down
DROP TABLE travel_rule_holds;
