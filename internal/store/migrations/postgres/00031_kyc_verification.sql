-- +goose Up
-- A field listed in kyc.verification_fields waits in VERIFICATION_REQUIRED until the customer
-- sends the code vaspgate made for it (sealed here, counted attempts).
ALTER TABLE kyc_fields ADD COLUMN code BYTEA;
ALTER TABLE kyc_fields ADD COLUMN code_attempts INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE kyc_fields DROP COLUMN code_attempts;
ALTER TABLE kyc_fields DROP COLUMN code;
