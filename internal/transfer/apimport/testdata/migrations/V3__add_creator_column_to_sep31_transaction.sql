ALTER TABLE sep31_transaction
    ADD creator VARCHAR(2047);