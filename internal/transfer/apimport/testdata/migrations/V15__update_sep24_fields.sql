ALTER TABLE sep24_transaction DROP COLUMN source_asset;
ALTER TABLE sep24_transaction DROP COLUMN destination_asset;