-- +goose Up
-- A delivery is inserted open (pending or queued) with no attempt, and the console's attempts
-- index of 00078 (attempts <> 1) took an entry for it on every insert: one of the nine index
-- entries each delivery's insert makes, for an order an operator reads now and then (issue
-- 16, sixth pass). Open rows that were never attempted now stay out of it: the console reads
-- them through the status index (callback_deliveries_status_id holds every open row, in id
-- order per status), two walks merged with this index's rows of no attempt (a finished
-- delivery without an attempt, which the engine never writes, still sorts where it should).
-- A delivery enters this index when it is recorded with other than one attempt, as before.
-- The list's predicate is this one word for word (callback.attemptsIndexed), which SQLite
-- needs to take the index.
DROP INDEX callback_deliveries_attempts;
CREATE INDEX callback_deliveries_attempts ON callback_deliveries (attempts, id)
    WHERE attempts <> 1 AND (attempts <> 0 OR status NOT IN ('pending', 'queued'));

-- +goose Down
DROP INDEX callback_deliveries_attempts;
CREATE INDEX callback_deliveries_attempts ON callback_deliveries (attempts, id) WHERE attempts <> 1;
