-- Which message settled a request: the id of the `decide` Update that carried the decision
-- (NULL for a deadline, a cancellation, an operator's signal, the reconciler, and requests
-- settled before this column existed). A decision whose workflow task Temporal refused after its
-- settle had committed (a cancellation arrived meanwhile) is sent again with the same id and
-- finds its own outcome standing by it, instead of being told the request is no longer pending.
ALTER TABLE disassociation_requests ADD COLUMN decision_id text;
