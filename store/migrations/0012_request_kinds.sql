-- v3: every kind of request (disassociations, association type changes) lives in one table, so
-- that "at most one pending request per association" stays one unique index
-- (requests_one_pending_per_association) that PostgreSQL enforces across kinds under any
-- concurrency.
ALTER TABLE disassociation_requests RENAME TO requests;
ALTER TABLE requests RENAME CONSTRAINT disassociation_requests_status_check TO requests_status_check;
-- assocflow names the kind of every row it writes; the default is for the previous build's
-- workers (below).
ALTER TABLE requests ADD COLUMN kind text NOT NULL DEFAULT 'disassociation'
    CHECK (kind IN ('disassociation', 'type_change'));
-- A type change: the association's type when it was asked for, and the type asked for.
ALTER TABLE requests
    ADD COLUMN from_type text CHECK (from_type IN ('referral', 'advance_payment', 'resale')),
    ADD COLUMN new_type  text CHECK (new_type IN ('referral', 'advance_payment', 'resale'));
ALTER TABLE requests ADD CONSTRAINT requests_types_of_a_type_change CHECK (
    (kind = 'type_change') = (from_type IS NOT NULL AND new_type IS NOT NULL)
    AND (kind <> 'type_change' OR from_type <> new_type)
);
-- A type change's deadline expires it; nothing agrees to one on its own.
ALTER TABLE requests ADD CONSTRAINT requests_type_change_outcomes CHECK (
    kind <> 'type_change' OR status <> 'auto_agreed'
);
-- The request limit counts one kind's requests on an association.
CREATE INDEX requests_for_kind_limit ON requests (association_id, kind, submitted_at DESC);

-- While a rainbow deploy drains (docs/DEPLOY.md, "Shipping a workflow change"), workers of the
-- previous build still settle the requests pinned to them, with their own queries on the old
-- table name: they read and write their disassociations through this view. (One pending request
-- per association still holds for them: the unique index is the table's.) A later release drops
-- the view, once no build older than this one runs (expand, then contract).
CREATE VIEW disassociation_requests AS
    SELECT id, association_id, partner_id, customer_id, initiator, requested_by, status, reason,
           submitted_at, respond_by, decided_at, decided_by, decision_reason, workflow_id,
           account_check, on_timeout, decision_id
    FROM requests
    WHERE kind = 'disassociation';
