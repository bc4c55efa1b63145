-- +goose Up
-- Quotas are counted from rows (limit.Quota): an uploader's files by owner.
CREATE INDEX kyc_files_owner ON kyc_files (account, memo);

-- Verification codes: when the last one was sent, and how many were sent in the current
-- 24-hour window (code_window is its start), for the resend cooldown and the daily cap.
-- code_attempts is no longer reset by a resend, only when a new window starts.
ALTER TABLE kyc_fields ADD COLUMN code_sent_at BIGINT;
ALTER TABLE kyc_fields ADD COLUMN code_sends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kyc_fields ADD COLUMN code_window BIGINT;

-- +goose Down
ALTER TABLE kyc_fields DROP COLUMN code_window;
ALTER TABLE kyc_fields DROP COLUMN code_sends;
ALTER TABLE kyc_fields DROP COLUMN code_sent_at;
DROP INDEX kyc_files_owner;
