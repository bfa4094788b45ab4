-- People and their second factor (virtual MFA), tokens of people and of accounts.

-- A person: a partner user or a customer user (the same id as that row). The email is how they
-- sign in to the console; people made before emails existed have none until an operator sets it.
CREATE TABLE people (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('partner_user', 'customer_user')),
    email      text CHECK (length(email) BETWEEN 3 AND 320),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX people_email ON people (lower(email));
INSERT INTO people (id, kind, created_at) SELECT id, 'partner_user', created_at FROM partner_users;

-- A customer's people act for the customer account (no permissions: a customer is one party).
CREATE TABLE customer_users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_users_customer ON customer_users (customer_id);

-- A person's TOTP secret (RFC 6238), encrypted with ASSOCFLOW_ENCRYPTION_KEY; usable once
-- confirmed by a first code. `last_used_step` refuses a code's time step a second time.
CREATE TABLE mfa_enrolments (
    person_id        uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    secret_encrypted bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    confirmed_at     timestamptz,
    last_used_step   bigint
);

-- Ten single-use recovery codes per enrolment, kept as argon2id hashes.
CREATE TABLE mfa_recovery_codes (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    used_at   timestamptz
);
CREATE INDEX mfa_recovery_codes_person ON mfa_recovery_codes (person_id) WHERE used_at IS NULL;

-- Consecutive failed codes per person; five lock verification for fifteen minutes. Kept apart
-- from the enrolment: resetting an enrolment does not lift a lock, only time does.
CREATE TABLE mfa_failures (
    person_id       uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz
);

-- An account lets its service tokens do what verification guards only when it says so.
ALTER TABLE partners ADD COLUMN service_tokens_may_decide boolean NOT NULL DEFAULT false;
ALTER TABLE customers ADD COLUMN service_tokens_may_decide boolean NOT NULL DEFAULT false;

-- Tokens belong to a person, or are service tokens of an account (a customer's token was one).
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_subject_kind_check;
UPDATE api_tokens SET subject_kind = 'customer_service' WHERE subject_kind = 'customer';
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_subject_kind_check CHECK (subject_kind IN
    ('operator', 'partner_user', 'customer_user', 'partner_service', 'customer_service'));

-- The codes sent to message centers are gone: whoever could read an account's notifications could
-- read them. Their notifications (and webhook deliveries) go with them.
DELETE FROM webhook_attempts WHERE delivery_id IN (
    SELECT d.id FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id
    WHERE n.event_type = 'verification.code');
DELETE FROM webhook_deliveries WHERE notification_id IN (
    SELECT id FROM notifications WHERE event_type = 'verification.code');
DELETE FROM notifications WHERE event_type = 'verification.code';
DROP TABLE verification_codes;
DROP TABLE verification_state;

-- Webhook delivery logs told owners internal addresses and low-level errors: what is kept now is
-- "refused: the address is not public" or "could not connect" (the worker's log has the details).
UPDATE webhook_attempts SET error = CASE WHEN error LIKE 'The host%' OR error LIKE '%private%'
    THEN 'refused: the address is not public' ELSE 'could not connect' END
    WHERE error IS NOT NULL;
UPDATE webhook_deliveries SET last_error = CASE WHEN last_error LIKE 'The host%'
    OR last_error LIKE '%private%' THEN 'refused: the address is not public'
    ELSE 'could not connect' END
    WHERE last_error IS NOT NULL;
