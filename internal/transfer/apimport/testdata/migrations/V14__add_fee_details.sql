ALTER TABLE sep6_transaction ADD fee_details JSON;
ALTER TABLE sep24_transaction ADD fee_details JSON;
ALTER TABLE sep31_transaction ADD fee_details JSON;
