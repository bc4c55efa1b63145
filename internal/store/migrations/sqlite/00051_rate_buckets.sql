-- +goose Up
-- Token buckets shared by every instance (limit.Shared): one row per (scope, key) with the
-- tokens left at its last take (at, Unix microseconds). A take refills and takes in one
-- statement under the row's lock, so instances never both spend the same token.
CREATE TABLE rate_buckets (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    tokens REAL NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX rate_buckets_at ON rate_buckets (at);

-- +goose Down
DROP TABLE rate_buckets;
