-- The process running a claimed Idempotency-Key's request, by its presence id (store/presence.py):
-- a retry sees at once that the process died and takes the claim over. NULL: a claim made while
-- its process had no presence (the time-based rule alone applies).
ALTER TABLE idempotency_keys ADD COLUMN holder integer;
