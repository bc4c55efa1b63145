ALTER TABLE sep6_transaction ADD client_domain VARCHAR(255);
ALTER TABLE sep6_transaction ADD client_name VARCHAR(255);

ALTER TABLE sep24_transaction ADD client_name VARCHAR(255);
ALTER TABLE sep31_transaction ADD client_name VARCHAR(255);
