-- +goose Up
-- travel_rule_pending: the processable callbacks stored and not folded into their
-- verification yet, one narrow row each, written in the group commit that stores the
-- callback and deleted by the fold that reads it. Before, a fold marked each callback
-- processed by rewriting its inbox row (body included) and an entry in each of its five
-- indexes: 19 buffers and 1.1 kB of WAL per callback on PostgreSQL, three quarters of a
-- fold's database work (issue 16). travel_rule_inbox.state now says what a callback was on
-- arrival and changes only when an operator re-processes it out of the quarantine: pending
-- (processable; processed once its row here is gone), quarantined, or processed (folded
-- before this migration). The sweep reads this table alone (no index on received_at: it
-- holds only what waits for a fold).
CREATE TABLE travel_rule_pending (
    verification_uuid TEXT NOT NULL,
    id                TEXT NOT NULL,
    received_at       BIGINT NOT NULL,
    PRIMARY KEY (verification_uuid, id)
);
INSERT INTO travel_rule_pending (verification_uuid, id, received_at)
    SELECT verification_uuid, id, received_at FROM travel_rule_inbox WHERE state = 'pending';
-- The state index's only readers left are the quarantine's (its list, its retention, the
-- console's count): an entry per quarantined callback instead of one per callback.
DROP INDEX travel_rule_inbox_state;
CREATE INDEX travel_rule_inbox_quarantined ON travel_rule_inbox (received_at, id) WHERE state = 'quarantined';

-- +goose Down
DROP INDEX travel_rule_inbox_quarantined;
CREATE INDEX travel_rule_inbox_state ON travel_rule_inbox (state, received_at);
UPDATE travel_rule_inbox SET state = 'processed' WHERE state = 'pending'
    AND NOT EXISTS (SELECT 1 FROM travel_rule_pending p WHERE p.verification_uuid = travel_rule_inbox.verification_uuid
    AND p.id = travel_rule_inbox.id);
DROP TABLE travel_rule_pending;
