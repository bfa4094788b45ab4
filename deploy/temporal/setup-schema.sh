#!/bin/sh
# The temporal-schema job (temporalio/admin-tools): creates Temporal's two schemas on PostgreSQL,
# or upgrades them to the admin-tools' version (the same as the server's: TEMPORAL_VERSION), then
# exits 0. Safe to run again: an up-to-date schema is left alone.
#
# PostgreSQL may still be starting: each failure is retried, SETUP_ATTEMPTS times at most,
# SETUP_PAUSE seconds apart; then the job exits 1 and says why, and nothing that depends on it
# starts (docker compose reports the failed job).
set -eu
: "${SQL_PASSWORD:?set TEMPORAL_DB_PASSWORD}"
attempts=${SETUP_ATTEMPTS:-30}
pause=${SETUP_PAUSE:-2}
schema=${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

case $SQL_PASSWORD in
  *[[:space:][:cntrl:]]*)
    echo "temporal-schema: TEMPORAL_DB_PASSWORD holds a space or a control character, which" \
      "Temporal's PostgreSQL connection string cannot carry (a space arrives as '+');" \
      "choose one without" >&2
    exit 1 ;;
esac

setup() {
  temporal-sql-tool --db temporal setup-schema -v 0.0 \
    && temporal-sql-tool --db temporal update-schema -d "$schema/temporal/versioned" \
    && temporal-sql-tool --db temporal_visibility setup-schema -v 0.0 \
    && temporal-sql-tool --db temporal_visibility update-schema -d "$schema/visibility/versioned"
}

n=1
until setup; do
  if [ "$n" -ge "$attempts" ]; then
    echo "temporal-schema: gave up after $n attempts: is PostgreSQL up at ${SQL_HOST:-?}:${SQL_PORT:-5432}," \
      "and is TEMPORAL_DB_PASSWORD the password the temporal role was created with?" >&2
    exit 1
  fi
  echo "temporal-schema: attempt $n of $attempts failed; trying again in ${pause}s" >&2
  n=$((n + 1))
  sleep "$pause"
done
echo "temporal-schema: Temporal's schemas are up to date"
