-- v3: partner changes. A customer moves from its partner to another in one request that awaits
-- both partners' consents; on completion the old association ends and the new one begins in one
-- transaction (associations_one_active_per_customer keeps a customer from ever having two).
ALTER TABLE requests DROP CONSTRAINT requests_kind_check;
ALTER TABLE requests ADD CONSTRAINT requests_kind_check
    CHECK (kind IN ('disassociation', 'type_change', 'partner_change'));
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN (
    'pending', 'agreed', 'auto_agreed', 'rejected', 'expired', 'withdrawn', 'cancelled',
    'completed', 'declined'));
ALTER TABLE requests DROP CONSTRAINT disassociation_requests_on_timeout_check;
ALTER TABLE requests ADD CONSTRAINT requests_on_timeout_check
    CHECK (on_timeout IN ('auto_agreed', 'expired', 'completed'));
ALTER TABLE requests
    ADD COLUMN new_partner_id uuid REFERENCES partners (id),
    -- Each partner's answer as given: {decision, at, by, reason[, association_type]}.
    ADD COLUMN current_partner_decision jsonb,
    ADD COLUMN new_partner_decision jsonb,
    ADD COLUMN new_association_id uuid REFERENCES associations (id),
    ADD COLUMN completed_at timestamptz;
ALTER TABLE requests ADD CONSTRAINT requests_partner_change_fields CHECK (
    (kind = 'partner_change') = (new_partner_id IS NOT NULL)
    AND (kind <> 'partner_change' OR new_partner_id <> partner_id)
    AND (status = 'completed') = (completed_at IS NOT NULL)
);
-- Only a partner change completes or is declined; it is never auto-agreed.
ALTER TABLE requests ADD CONSTRAINT requests_partner_change_outcomes CHECK (
    (kind = 'partner_change' OR status NOT IN ('completed', 'declined'))
    AND (kind <> 'partner_change' OR status NOT IN ('agreed', 'auto_agreed'))
);
-- A partner change's own records (requested, agreed, accepted, completed, ...); the associations'
-- end and start are records of kind `association`, each naming the request.
ALTER TABLE association_records DROP CONSTRAINT association_records_kind_check;
ALTER TABLE association_records ADD CONSTRAINT association_records_kind_check
    CHECK (kind IN ('association', 'type_change', 'disassociation', 'partner_change'));
-- The new partner sees the requests that would bring it a customer.
CREATE INDEX requests_by_new_partner ON requests (new_partner_id, submitted_at DESC, id DESC)
    WHERE new_partner_id IS NOT NULL;
