-- +goose Up
-- The promotion of a subject's next head reads its first queued delivery. The unique
-- (endpoint_id, subject, seq) index would walk past every delivered row of the subject
-- first (a long-lived subject has thousands); this one holds queued rows only, and takes an
-- entry only when a delivery is recorded behind a head.
CREATE INDEX callback_deliveries_queued ON callback_deliveries (endpoint_id, subject, seq) WHERE status = 'queued';

-- +goose Down
DROP INDEX callback_deliveries_queued;
