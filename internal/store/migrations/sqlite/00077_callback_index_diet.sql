-- +goose Up
-- Indexes of callback_deliveries that cost the engine without a reader of their own (issue
-- 16). A delivery is written two or three times (recorded; promoted, if it waited behind its
-- subject's head; recorded as attempted). The promotion and the attempt change status, so
-- they are not HOT updates, and each write adds an entry to every index whose predicate the
-- new row version matches: with 13 indexes, 29 entries for a delivery that waited.
--
-- callback_deliveries_endpoint (endpoint_id, created_at) took an entry on every write. No
-- statement orders by created_at within an endpoint (the console's lists are in id order or
-- by a sort column), and the one bound by it, replaying an endpoint's dead letters since a
-- time, reads dead letters only. The deliveries of one endpoint are found as well through
-- the endpoint prefix of either unique index, which the planners take in its place: the same
-- plans, a page more at most, on a table with statistics or without.
DROP INDEX callback_deliveries_endpoint;

-- callback_deliveries_failed (id) was the 'failed' range of callback_deliveries_status_id
-- (status, id) (migration 00075), in the same order; the dead letter lists read that range.
-- Keyed by endpoint and creation instead, it serves what the dropped endpoint index did for
-- dead letters: an endpoint's, since a time (ReplayEndpoint, the console's count before it),
-- and on SQLite, whose planner cannot use the unfinished index for status = 'failed', the
-- endpoints' failed counts. It takes an entry only when a delivery fails.
DROP INDEX callback_deliveries_failed;
CREATE INDEX callback_deliveries_failed ON callback_deliveries (endpoint_id, created_at) WHERE status = 'failed';

-- +goose Down
DROP INDEX callback_deliveries_failed;
CREATE INDEX callback_deliveries_failed ON callback_deliveries (id) WHERE status = 'failed';
CREATE INDEX callback_deliveries_endpoint ON callback_deliveries (endpoint_id, created_at);
