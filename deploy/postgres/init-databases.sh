#!/bin/sh
# First start of the PostgreSQL container: a role and database for assocflow, and one role with
# two databases for Temporal (history and visibility).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE assocflow LOGIN PASSWORD '${ASSOCFLOW_DB_PASSWORD}';
CREATE DATABASE assocflow OWNER assocflow;
CREATE ROLE temporal LOGIN PASSWORD '${TEMPORAL_DB_PASSWORD}';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
