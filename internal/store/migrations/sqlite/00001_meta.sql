-- +goose Up
-- meta keeps small facts about this installation: the development secrets made on first
-- start (when none are configured) and similar one-off values.
CREATE TABLE meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE meta;
