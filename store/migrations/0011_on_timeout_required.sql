-- Every request keeps the outcome its deadline brings, as the policy it was accepted under
-- decided it (store/requests.py writes it at acceptance): the one place it is read from. Rows
-- accepted before 0005 get the outcome they were judged by until now, the default policy's.
UPDATE disassociation_requests
SET on_timeout = CASE initiator WHEN 'customer' THEN 'auto_agreed' ELSE 'expired' END
WHERE on_timeout IS NULL;
ALTER TABLE disassociation_requests ALTER COLUMN on_timeout SET NOT NULL;
