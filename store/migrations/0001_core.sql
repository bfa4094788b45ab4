-- assocflow core schema: accounts, associations, disassociation requests, records, outbox, tokens.

CREATE TABLE partners (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type                  text NOT NULL CHECK (type IN ('reseller', 'distributor', 'psp')),
    parent_partner_id     uuid REFERENCES partners (id),
    frozen                boolean NOT NULL DEFAULT false,
    verification_required boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_partner_id IS DISTINCT FROM id)
);
CREATE INDEX partners_parent ON partners (parent_partner_id) WHERE parent_partner_id IS NOT NULL;

CREATE TABLE partner_users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    partner_id  uuid NOT NULL REFERENCES partners (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX partner_users_partner ON partner_users (partner_id);

CREATE TABLE customers (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    verification_required boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now()
);

-- Operator-maintained facts the account check reads; a missing row means a clean account.
CREATE TABLE account_standing (
    customer_id                     uuid PRIMARY KEY REFERENCES customers (id),
    frozen                          boolean NOT NULL DEFAULT false,
    arrears                         numeric(14, 2) NOT NULL DEFAULT 0 CHECK (arrears >= 0),
    orders_awaiting_partner_payment integer NOT NULL DEFAULT 0 CHECK (orders_awaiting_partner_payment >= 0),
    active_reserved_instances       integer NOT NULL DEFAULT 0 CHECK (active_reserved_instances >= 0),
    unused_vouchers                 integer NOT NULL DEFAULT 0 CHECK (unused_vouchers >= 0),
    independent_accounting_members  integer NOT NULL DEFAULT 0 CHECK (independent_accounting_members >= 0),
    active_support_plan             boolean NOT NULL DEFAULT false,
    special_contract                boolean NOT NULL DEFAULT false,
    currency_set                    boolean NOT NULL DEFAULT true,
    updated_at                      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE associations (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    partner_id          uuid NOT NULL REFERENCES partners (id),
    customer_id         uuid NOT NULL REFERENCES customers (id),
    association_type    text NOT NULL CHECK (association_type IN ('referral', 'advance_payment', 'resale')),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    associated_at       timestamptz NOT NULL DEFAULT now(),
    ended_at            timestamptz,
    ended_by_request_id uuid,
    CHECK ((status = 'ended') = (ended_at IS NOT NULL))
);
-- A customer is associated with at most one partner at a time.
CREATE UNIQUE INDEX associations_one_active_per_customer ON associations (customer_id) WHERE status = 'active';
CREATE INDEX associations_by_partner ON associations (partner_id, associated_at DESC, id DESC);
CREATE INDEX associations_by_customer ON associations (customer_id, associated_at DESC, id DESC);

CREATE TABLE disassociation_requests (
    id              uuid PRIMARY KEY,
    association_id  uuid NOT NULL REFERENCES associations (id),
    partner_id      uuid NOT NULL REFERENCES partners (id),
    customer_id     uuid NOT NULL REFERENCES customers (id),
    initiator       text NOT NULL CHECK (initiator IN ('partner', 'customer')),
    requested_by    text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'agreed', 'auto_agreed', 'rejected', 'expired', 'withdrawn')),
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    submitted_at    timestamptz NOT NULL,
    respond_by      timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text,
    decision_reason text,
    workflow_id     text NOT NULL UNIQUE,
    -- The account check as it stood when the request was accepted.
    account_check   jsonb NOT NULL,
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK (respond_by > submitted_at)
);
-- At most one pending request per association, whatever the concurrency.
CREATE UNIQUE INDEX requests_one_pending_per_association ON disassociation_requests (association_id) WHERE status = 'pending';
CREATE INDEX requests_for_limit ON disassociation_requests (association_id, initiator, submitted_at DESC);
CREATE INDEX requests_by_partner ON disassociation_requests (partner_id, submitted_at DESC, id DESC);
CREATE INDEX requests_by_customer ON disassociation_requests (customer_id, submitted_at DESC, id DESC);

-- "Manage Association Records": an append-only log; effect_key makes each effect happen once.
CREATE TABLE association_records (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind           text NOT NULL CHECK (kind IN ('association', 'type_change', 'disassociation')),
    action         text NOT NULL,
    association_id uuid NOT NULL REFERENCES associations (id),
    partner_id     uuid NOT NULL REFERENCES partners (id),
    customer_id    uuid NOT NULL REFERENCES customers (id),
    request_id     uuid,
    status         text,
    actor          text NOT NULL,
    reason         text,
    before         jsonb,
    after          jsonb,
    occurred_at    timestamptz NOT NULL,
    effect_key     text NOT NULL UNIQUE
);
CREATE INDEX records_by_partner ON association_records (partner_id, occurred_at DESC, id DESC);
CREATE INDEX records_by_customer ON association_records (customer_id, occurred_at DESC, id DESC);

-- The outbox and the message center: written in the same transaction as the state change.
CREATE TABLE notifications (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    recipient_kind text NOT NULL CHECK (recipient_kind IN ('partner', 'customer')),
    recipient_id   uuid NOT NULL,
    event_type     text NOT NULL,
    summary        text NOT NULL,
    request_id     uuid,
    association_id uuid,
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL,
    read_at        timestamptz,
    effect_key     text NOT NULL UNIQUE
);
CREATE INDEX notifications_by_recipient ON notifications (recipient_kind, recipient_id, created_at DESC, id DESC);

-- Bearer tokens: only a SHA-256 of the random token is kept.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash   bytea NOT NULL UNIQUE,
    subject_kind text NOT NULL CHECK (subject_kind IN ('operator', 'partner_user', 'customer')),
    subject_id   text NOT NULL,
    label        text,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_subject ON api_tokens (subject_kind, subject_id);
