-- Verification codes, idempotency keys, rate limits and the audit log.

-- A code is stored as a salted scrypt hash: six digits are few enough to guess from a fast hash.
CREATE TABLE verification_codes (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_kind text NOT NULL CHECK (account_kind IN ('partner', 'customer')),
    account_id   uuid NOT NULL,
    purpose      text NOT NULL,
    salt         bytea NOT NULL,
    code_hash    bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX verification_codes_latest ON verification_codes (account_kind, account_id, purpose, created_at DESC);

-- Consecutive failures per account; five lock verification for a while. A new code leaves it be.
CREATE TABLE verification_state (
    account_kind    text NOT NULL,
    account_id      uuid NOT NULL,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    PRIMARY KEY (account_kind, account_id)
);

-- The first response to each (caller, Idempotency-Key), replayed to retries.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL,
    route        text NOT NULL,
    body_hash    bytea NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    status_code  integer,
    headers      jsonb,
    body         bytea,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (started_at);

-- Fixed-window counters, shared by every API process.
CREATE TABLE rate_limits (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

-- Who created, froze or changed what: operators' actions and accounts' own settings.
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    actor       text NOT NULL,
    action      text NOT NULL,
    target_kind text NOT NULL,
    target_id   text NOT NULL,
    before      jsonb,
    after       jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_newest ON audit_log (occurred_at DESC, id DESC);

CREATE INDEX notifications_unread ON notifications (recipient_kind, recipient_id, created_at DESC, id DESC) WHERE read_at IS NULL;
