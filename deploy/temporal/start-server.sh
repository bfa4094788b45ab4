#!/bin/sh
# Starts the Temporal server (temporalio/server) with TEMPORAL_DB_PASSWORD as its PostgreSQL
# password. The image writes POSTGRES_PWD into a double-quoted YAML string of its configuration,
# where a " or a \ would end or change the string: both are escaped for YAML here, so that the
# server reads the password as it was given.
set -eu
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"
case $TEMPORAL_DB_PASSWORD in
  *[[:space:][:cntrl:]]*)
    echo "temporal: TEMPORAL_DB_PASSWORD holds a space or a control character, which" \
      "Temporal's PostgreSQL connection string cannot carry; choose one without" >&2
    exit 1 ;;
esac
POSTGRES_PWD=$(printf '%s\n' "$TEMPORAL_DB_PASSWORD" | sed 's/[\\"]/\\&/g')
export POSTGRES_PWD
exec "${TEMPORAL_ENTRYPOINT:-/etc/temporal/entrypoint.sh}"
