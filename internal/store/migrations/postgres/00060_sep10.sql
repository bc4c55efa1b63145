-- +goose Up
-- sep10_challenges: SEP-10 challenges already exchanged for a token (one JWT per challenge,
-- stellar-seps.md 3.2 check 9), shared by every instance. A row may go once keep_until (a
-- little after the challenge's maxTime) has passed: the time bounds refuse the challenge then.
CREATE TABLE sep10_challenges (
    hash       TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    keep_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sep10_challenges_keep_until ON sep10_challenges (keep_until);

-- sep10_accounts: per G… account, whether it authenticates as a shared account (with a memo
-- or as a muxed account) or not; the first successful authentication decides, for good
-- (stellar-seps.md 3.4).
CREATE TABLE sep10_accounts (
    account    TEXT PRIMARY KEY,
    shared     BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE sep10_accounts;
DROP TABLE sep10_challenges;
