-- +goose Up
-- The console's endpoint health shows when each endpoint last took a delivery. The
-- delivery engine writes it at most about once a second per endpoint (it compares before
-- writing), so a busy healthy endpoint's row sees no contention, and no index on the
-- deliveries table is needed to answer it.
ALTER TABLE callback_endpoints ADD COLUMN last_success_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE callback_endpoints DROP COLUMN last_success_at;
