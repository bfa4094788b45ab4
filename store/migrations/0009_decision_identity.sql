-- Which decision settled a request: the id of the `decide` Update that carried it (NULL for a
-- deadline, a workflow cancellation, an operator's signal, the reconciler, and requests settled
-- before this column existed). docs/PERFORMANCE.md ("Local activities: what they change") says
-- why a decision's sender needs it.
ALTER TABLE disassociation_requests ADD COLUMN decision_id text;
