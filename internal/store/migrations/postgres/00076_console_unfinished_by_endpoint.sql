-- +goose Up
-- (Numbered in the console's range, after 00071 which made the index, so that a fresh
-- database and an existing one apply the two in the same order.)
--
-- The console's open and failed counts per endpoint keep their index, keyed by endpoint
-- only, its status carried (INCLUDE) rather than keyed: a status in the key made this index
-- fit the engine's own lookups (a subject's next queued delivery, the due heads), and a
-- planner without statistics yet (a freshly migrated or freshly loaded table) rated
-- "endpoint and status" as selective as "endpoint and subject" and took this small,
-- deduplicated index, walking every open delivery of the endpoint per lookup (issue 16).
-- Keyed by endpoint alone it is never the closer fit for them; the counts still read only
-- this index's entries.
DROP INDEX callback_deliveries_unfinished;
CREATE INDEX callback_deliveries_unfinished ON callback_deliveries (endpoint_id) INCLUDE (status)
    WHERE status IN ('pending', 'queued', 'failed');

-- +goose Down
DROP INDEX callback_deliveries_unfinished;
CREATE INDEX callback_deliveries_unfinished ON callback_deliveries (endpoint_id, status)
    WHERE status IN ('pending', 'queued', 'failed');
