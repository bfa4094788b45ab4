-- Consecutive failed console passwords per (client address, email) and per email, for any email
-- whether an account has it or not (domain/lockout.py). The key is a SHA-256 of what is counted:
-- no address or email is kept here. Passwords no longer count in sign_in_failures, which keeps a
-- person's failed codes at sign-in.
CREATE TABLE sign_in_throttles (
    key             bytea PRIMARY KEY,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX sign_in_throttles_updated ON sign_in_throttles (updated_at);
