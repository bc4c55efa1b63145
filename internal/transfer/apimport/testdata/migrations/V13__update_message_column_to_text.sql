ALTER TABLE sep6_transaction ALTER COLUMN message TYPE TEXT;

ALTER TABLE sep6_transaction ALTER COLUMN required_info_message TYPE TEXT;

ALTER TABLE sep6_transaction ALTER COLUMN required_customer_info_message TYPE TEXT;

ALTER TABLE sep24_transaction ALTER COLUMN message TYPE TEXT;

ALTER TABLE sep31_transaction ALTER COLUMN required_info_message TYPE TEXT;