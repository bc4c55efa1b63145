ALTER TABLE sep31_transaction ADD receiver_id VARCHAR(255);

ALTER TABLE sep31_transaction ADD sender_id VARCHAR(255);