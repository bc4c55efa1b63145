-- +goose Up
-- The console's overview and the endpoints list count each endpoint's open (pending,
-- queued) and failed deliveries. This partial index holds only those rows — a delivered row
-- leaves it — so the counts read a few index pages instead of the endpoint's whole history,
-- and a delivery costs at most a couple of entries over its life.
CREATE INDEX callback_deliveries_unfinished ON callback_deliveries (endpoint_id, status)
    WHERE status IN ('pending', 'queued', 'failed');

-- The overview counts the KYC decisions waiting, and operators list them: the PROCESSING
-- customers, a small share of all, kept in their own index.
CREATE INDEX kyc_customer_types_processing ON kyc_customer_types (customer_id, type)
    WHERE status = 'PROCESSING';

-- +goose Down
DROP INDEX kyc_customer_types_processing;
DROP INDEX callback_deliveries_unfinished;
