-- Requests can end as `cancelled`: by an operator (admin API, CLI, the Temporal UI's
-- cancellation), or by the reconciler when their workflow closed without an outcome.
ALTER TABLE disassociation_requests DROP CONSTRAINT disassociation_requests_status_check;
ALTER TABLE disassociation_requests ADD CONSTRAINT disassociation_requests_status_check
    CHECK (status IN ('pending', 'agreed', 'auto_agreed', 'rejected', 'expired', 'withdrawn', 'cancelled'));

-- The outcome a request's deadline brings, fixed when it is accepted (the policy of the moment),
-- so that a decision arriving after respond_by is answered with it. NULL (requests accepted
-- before this column existed): the default policy's outcome for the initiating side.
ALTER TABLE disassociation_requests ADD COLUMN on_timeout text
    CHECK (on_timeout IN ('auto_agreed', 'expired'));
