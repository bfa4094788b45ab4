#!/bin/sh
# The temporal-setup job (temporalio/admin-tools): waits for the Temporal server, creates
# assocflow's namespace (retention NAMESPACE_RETENTION) and its search attributes when missing,
# then exits 0. Safe to run again.
#
# Each step is retried while the server is starting, SETUP_ATTEMPTS times at most, SETUP_PAUSE
# seconds apart; then the job exits 1 and names the step, and assocflow's services do not start.
set -eu
: "${NAMESPACE:?set TEMPORAL_NAMESPACE}"
attempts=${SETUP_ATTEMPTS:-60}
pause=${SETUP_PAUSE:-2}
retention=${NAMESPACE_RETENTION:-30d}
# What contract/__init__.py registers (the worker checks them again at start).
attributes="PartnerId:Keyword CustomerId:Keyword AssociationId:Keyword Initiator:Keyword
RequestStatus:Keyword RespondBy:Datetime RequestKind:Keyword NewPartnerId:Keyword"

retry() {  # retry <step> <command> [<argument>...]
  step=$1
  shift
  n=1
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then
      echo "temporal-setup: gave up on $step after $n attempts (Temporal at ${TEMPORAL_ADDRESS:-?})" >&2
      exit 1
    fi
    echo "temporal-setup: $step: attempt $n of $attempts failed; trying again in ${pause}s" >&2
    n=$((n + 1))
    sleep "$pause"
  done
}

namespace() {
  temporal operator namespace describe -n "$NAMESPACE" >/dev/null 2>&1 \
    || temporal operator namespace create -n "$NAMESPACE" --retention "$retention"
}

search_attribute() {  # search_attribute <name> <type>
  temporal operator search-attribute list -n "$NAMESPACE" 2>/dev/null | grep -qw "$1" \
    || temporal operator search-attribute create -n "$NAMESPACE" --name "$1" --type "$2"
}

retry "the server's health" temporal operator cluster health
retry "namespace $NAMESPACE" namespace
for attribute in $attributes; do
  retry "search attribute ${attribute%%:*}" search_attribute "${attribute%%:*}" "${attribute##*:}"
done
echo "temporal-setup: namespace $NAMESPACE and its search attributes are in place"
