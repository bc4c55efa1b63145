-- +goose Up
-- The console's lists sort by more than creation (issue 15). Each order is a keyset walk
-- of an index on (sort column, then the columns that make a row unique), in either
-- direction, so a page costs the same at any depth and with any number of rows.

-- Deliveries by status, by last change and by number of attempts. updated_at is when a
-- delivery last changed (created, attempted, promoted, replayed); the engine writes it in
-- the statements that already change the delivery's status or schedule, which are non-HOT
-- updates already (status and next_at are in the claim index), so it adds no row write.
-- Each index does add an entry per such update: the price of sorting a million rows.
ALTER TABLE callback_deliveries ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE callback_deliveries SET updated_at = MAX(created_at, finished_at);
CREATE INDEX callback_deliveries_status_id ON callback_deliveries (status, id);
CREATE INDEX callback_deliveries_updated ON callback_deliveries (updated_at, id);
CREATE INDEX callback_deliveries_attempts ON callback_deliveries (attempts, id);

-- SEP-6 transactions by last change (by status: transfer_transactions_status already).
CREATE INDEX transfer_transactions_updated ON transfer_transactions (updated_at, id);

-- Builtin customers by status and by last change (per type, the list's rows).
CREATE INDEX kyc_customer_types_status ON kyc_customer_types (status, customer_id, type);
CREATE INDEX kyc_customer_types_updated ON kyc_customer_types (updated_at, customer_id, type);

-- Travel Rule verifications by status and by risk (by update: travel_rule_verifications_updated).
-- Risk levels sort by severity, not by name: the index is on the same rank expression the
-- list orders by (travelrule.riskRank).
CREATE INDEX travel_rule_verifications_status ON travel_rule_verifications (status, verification_uuid);
CREATE INDEX travel_rule_verifications_risk ON travel_rule_verifications ((CASE risk_level WHEN 'none' THEN 0 WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 WHEN 'severe' THEN 4 ELSE -1 END), verification_uuid);

-- +goose Down
DROP INDEX travel_rule_verifications_risk;
DROP INDEX travel_rule_verifications_status;
DROP INDEX kyc_customer_types_updated;
DROP INDEX kyc_customer_types_status;
DROP INDEX transfer_transactions_updated;
DROP INDEX callback_deliveries_attempts;
DROP INDEX callback_deliveries_updated;
DROP INDEX callback_deliveries_status_id;
ALTER TABLE callback_deliveries DROP COLUMN updated_at;
