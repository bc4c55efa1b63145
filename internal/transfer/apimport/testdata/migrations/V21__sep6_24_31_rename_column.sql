ALTER TABLE sep6_transaction RENAME COLUMN fee_details TO fee_details_list;
ALTER TABLE sep24_transaction RENAME COLUMN fee_details TO fee_details_list;
ALTER TABLE sep31_transaction RENAME COLUMN fee_details TO fee_details_list;

