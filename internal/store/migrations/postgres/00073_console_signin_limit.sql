-- +goose Up
-- The console's sign-in limit counts the failed sign-ins of the last window (in all, and
-- from one address) from the audit log. Within a window there are at most about as many
-- failure rows as the limit allows, so this index keeps both counts to a short range.
CREATE INDEX console_audit_action_at ON console_audit (action, at);

-- +goose Down
DROP INDEX console_audit_action_at;
