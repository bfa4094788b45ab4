#!/bin/sh
# First start of the PostgreSQL container (docker-entrypoint-initdb.d): a role and database for
# assocflow, and one role with two databases for Temporal (history and visibility).
#
# The passwords never become part of SQL text: psql reads them from the environment (\getenv)
# and quotes them as literals (:'name'), so any character works, quotes and backslashes included.
set -eu
: "${ASSOCFLOW_DB_PASSWORD:?set ASSOCFLOW_DB_PASSWORD}"
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
  --dbname "${POSTGRES_DB:-postgres}" <<'SQL'
\getenv assocflow_password ASSOCFLOW_DB_PASSWORD
\getenv temporal_password TEMPORAL_DB_PASSWORD
CREATE ROLE assocflow LOGIN PASSWORD :'assocflow_password';
CREATE DATABASE assocflow OWNER assocflow;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
