DROP TABLE IF EXISTS custody_transaction;
