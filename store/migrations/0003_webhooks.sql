-- Webhook endpoints and deliveries, and the indexes behind the records' filters.

CREATE TABLE webhook_endpoints (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_kind       text NOT NULL CHECK (owner_kind IN ('partner', 'customer')),
    owner_id         uuid NOT NULL,
    url              text NOT NULL CHECK (length(url) <= 2000),
    description      text,
    event_types      text[],           -- NULL: every event
    secret_encrypted bytea NOT NULL,   -- the signing key, encrypted with ASSOCFLOW_ENCRYPTION_KEY
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_kind, owner_id) WHERE deleted_at IS NULL;

-- One row per (endpoint, notification): written in the notification's own transaction.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id),
    notification_id uuid NOT NULL REFERENCES notifications (id),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (endpoint_id, notification_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id),
    attempt      integer NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    duration_ms  integer NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, attempt);

-- Records filtered by kind (and status) stay an index range scan per partner or customer.
CREATE INDEX records_by_partner_kind ON association_records (partner_id, kind, occurred_at DESC, id DESC);
CREATE INDEX records_by_customer_kind ON association_records (customer_id, kind, occurred_at DESC, id DESC);
