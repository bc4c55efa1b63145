ALTER TABLE sep24_transaction ADD quote_id VARCHAR(255);

ALTER TABLE sep24_transaction ADD source_asset VARCHAR(255);

ALTER TABLE sep24_transaction ADD destination_asset VARCHAR(255);