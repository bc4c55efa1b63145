-- +goose Up
-- The console's sort indexes off the delivery engine's path (issue 16). A delivery is
-- inserted open (pending or queued) and then, nearly always, updated once to 'delivered'
-- with attempts = 1. That update changes status, so it is not a HOT update and adds an entry
-- to every index whose predicate the new row version matches. The console's three sort
-- indexes of migration 00075 held every row, so they took three of the eight entries of
-- that update, for orders an operator reads now and then: the recording UPDATE ran at about
-- 300 µs of PostgreSQL time per event with them and 165 µs without them and the subject
-- index (docs/benchmarks.md, issue 16).
--
-- Each order is now read in two parts, each a keyset walk of its own index, merged by the
-- list (callback.Admin.Deliveries: a UNION ALL of two ordered, limited walks). The common
-- final state (delivered, one attempt) is the part no sort index holds:
--
-- * by status: the rows not delivered in (status, id); the delivered ones are all one
--   status, so they are walked in id order (the primary key) with status = 'delivered'.
-- * by last change: the rows not delivered in (updated_at, id); the delivered ones in
--   callback_deliveries_delivered, (updated_at, id) of the delivered rows, which replaces
--   callback_deliveries_finished (finished_at) WHERE delivered: retention reads it too, by
--   updated_at, which the engine writes with finished_at, from the same clock reading, in
--   the statement that records a delivery delivered (and a delivered row changes no more).
-- * by attempts: the rows with other than one attempt in (attempts, id); those with one
--   attempt are walked in id order (the primary key) with attempts = 1.
--
-- So recording a delivery delivered enters no sort index (five entries instead of eight),
-- the delivered index taking the place of the finished one. The insert still enters all
-- three (a new row is open, with no attempt). What it costs the console: a page of the
-- delivered (or one-attempt) part walks the primary key past the rows of the other part,
-- so a large open backlog newer than the page is skipped row by row.
DROP INDEX callback_deliveries_status_id;
CREATE INDEX callback_deliveries_status_id ON callback_deliveries (status, id) WHERE status <> 'delivered';
DROP INDEX callback_deliveries_updated;
CREATE INDEX callback_deliveries_updated ON callback_deliveries (updated_at, id) WHERE status <> 'delivered';
DROP INDEX callback_deliveries_finished;
CREATE INDEX callback_deliveries_delivered ON callback_deliveries (updated_at, id) WHERE status = 'delivered';
DROP INDEX callback_deliveries_attempts;
CREATE INDEX callback_deliveries_attempts ON callback_deliveries (attempts, id) WHERE attempts <> 1;

-- Nearly every row with other than one attempt is a dead letter, which the planner cannot
-- know from each column's statistics alone: it took a status filter as selective within
-- the small attempts index and read all of a status's rows and sorted them, for a page of
-- "failed, by attempts" (all 9,000 dead letters of the console's seed, 7 -> 46 ms). Joint
-- statistics of the two columns (taken by ANALYZE, nothing written per row) let it walk the
-- index.
CREATE STATISTICS callback_deliveries_status_attempts (mcv) ON status, attempts FROM callback_deliveries;

-- +goose Down
DROP STATISTICS callback_deliveries_status_attempts;
DROP INDEX callback_deliveries_attempts;
CREATE INDEX callback_deliveries_attempts ON callback_deliveries (attempts, id);
DROP INDEX callback_deliveries_delivered;
CREATE INDEX callback_deliveries_finished ON callback_deliveries (finished_at) WHERE status = 'delivered';
DROP INDEX callback_deliveries_updated;
CREATE INDEX callback_deliveries_updated ON callback_deliveries (updated_at, id);
DROP INDEX callback_deliveries_status_id;
CREATE INDEX callback_deliveries_status_id ON callback_deliveries (status, id);
