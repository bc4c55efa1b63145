ALTER TABLE sep6_transaction ADD request_client_ip_address VARCHAR(255);
ALTER TABLE sep24_transaction ADD request_client_ip_address VARCHAR(255);
ALTER TABLE sep31_transaction ADD request_client_ip_address VARCHAR(255);
