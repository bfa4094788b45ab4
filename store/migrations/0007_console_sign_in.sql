-- People sign in to the console: a password (set through an operator's invitation), sessions
-- behind a cookie, a lock after failed attempts; and the console's live updates hear of each
-- notification as it is written.

-- An argon2id hash (RFC 9106's low-memory profile); NULL until the person accepts an invitation.
ALTER TABLE people ADD COLUMN password_hash text;
ALTER TABLE people ADD COLUMN password_set_at timestamptz;

-- A signed-in browser. The id is the SHA-256 of the cookie's random token: the token itself is
-- never stored. `verified` is false between the password and the authenticator's code; a session
-- ends when signed out, idle too long (last_seen_at) or at expires_at, whichever comes first.
CREATE TABLE console_sessions (
    id            bytea PRIMARY KEY,
    person_id     uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    verified      boolean NOT NULL,
    signed_out_at timestamptz
);
CREATE INDEX console_sessions_person ON console_sessions (person_id) WHERE signed_out_at IS NULL;
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- A one-time link an operator gives a person to set their password, kept as the SHA-256 of its
-- token. One open invitation per person: a new one replaces the unused one (its link stops
-- working); used ones stay as a record.
CREATE TABLE invitations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash bytea NOT NULL UNIQUE,
    person_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE UNIQUE INDEX invitations_one_open ON invitations (person_id) WHERE used_at IS NULL;
CREATE INDEX invitations_expiry ON invitations (expires_at);

-- Consecutive failed sign-ins per person (a wrong password, a wrong code); five lock signing in
-- for fifteen minutes, and only time unlocks it.
CREATE TABLE sign_in_failures (
    person_id       uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz
);

-- Each notification, as its transaction commits, on the channel the console's live updates
-- listen to (store/listen.py): whom it is for, which request, what happened. No text, no payload.
CREATE FUNCTION announce_notification() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('assocflow_notifications', json_build_object(
        'recipient_kind', NEW.recipient_kind,
        'recipient_id', NEW.recipient_id,
        'request_id', NEW.request_id,
        'event_type', NEW.event_type)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER notifications_announce AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION announce_notification();
