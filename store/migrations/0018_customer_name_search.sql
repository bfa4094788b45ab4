-- Customer Management's search by any part of a customer's name, any case (store/overview.py
-- `associations`): a trigram index serves `name ILIKE '%...%'` instead of reading every customer
-- of the partner (150 ms at 50,000 customers, docs/PERFORMANCE.md). pg_trgm ships with
-- PostgreSQL and is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- Without GIN's pending list (fastupdate): customers are added rarely, a search is read often,
-- and a search must not read a list of the newest entries until a vacuum folds them in.
CREATE INDEX customers_name_trigrams ON customers USING gin (name gin_trgm_ops)
    WITH (fastupdate = off);
