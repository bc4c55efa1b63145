-- +goose Up
-- The quote-expiry sweep joins open transactions to the quote each took (transfer.ExpireQuoted).
CREATE INDEX sep38_quotes_transaction ON sep38_quotes (transaction_id);

-- +goose Down
DROP INDEX sep38_quotes_transaction;
