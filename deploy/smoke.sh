#!/usr/bin/env bash
# The production-like stack, end to end, on a host with Docker and Compose v2: brings
# docker-compose.yml up from nothing (a project, volume and ports of its own, two API replicas
# behind the proxy and two workers, passwords full of the characters that break quoting), puts
# the demo data in, runs the README's walkthrough through the proxy, checks what it left, and
# tears everything down, volumes included, whatever happened. Exits 0 when all of it worked.
#
#   deploy/smoke.sh              # from anywhere; builds the image first
#   KEEP=1 deploy/smoke.sh       # leave the stack up afterwards (it says how to remove it)
#
# Needs: docker (with `docker compose`), python3, curl, bash.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
project=${SMOKE_PROJECT:-assocflow-smoke-$$}
timeout=${SMOKE_TIMEOUT:-300}
work=$(mktemp -d)

say() { printf 'smoke: %s\n' "$*" >&2; }
compose() { docker compose --project-name "$project" --file docker-compose.yml "$@"; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

finish() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" -ne 0 ]; then
    say "FAILED (exit $status); the stack as it was:"
    compose ps --all >&2 || true
    compose logs --no-color --tail 40 >&2 || true
  fi
  if [ -n "${KEEP:-}" ]; then
    say "left up as project $project: docker compose -p $project down --volumes"
  else
    compose down --volumes --remove-orphans >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

docker compose version >/dev/null 2>&1 || { say "needs Docker with Compose v2 (docker compose)"; exit 2; }
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { say "needs $tool"; exit 2; }
done

# Secrets: random, each with @ : / % ' " \ $ and ` in it (Temporal's without whitespace, which
# its connection string cannot carry: deploy/temporal/start-server.sh).
random() { python3 -c 'import secrets; print(secrets.token_hex(12))'; }
# shellcheck disable=SC2089,SC2090  # the quotes and backslash are meant to be in the passwords
nasty="@:/%'\"\\\$\`"
POSTGRES_PASSWORD="pg${nasty}$(random)"
ASSOCFLOW_DB_PASSWORD="af${nasty}$(random)"
TEMPORAL_DB_PASSWORD="tp${nasty}$(random)"
ASSOCFLOW_OPERATOR_TOKEN=$(random)
ASSOCFLOW_ENCRYPTION_KEY=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
# shellcheck disable=SC2090
export POSTGRES_PASSWORD ASSOCFLOW_DB_PASSWORD TEMPORAL_DB_PASSWORD ASSOCFLOW_OPERATOR_TOKEN \
  ASSOCFLOW_ENCRYPTION_KEY

# Ports of its own, on this host only, so that it runs beside another stack.
port=$(free_port)
export ASSOCFLOW_HTTP_BIND=127.0.0.1 ASSOCFLOW_HTTP_PORT=$port
export ASSOCFLOW_PUBLIC_URL=http://127.0.0.1:$port
TEMPORAL_FRONTEND_PORT=$(free_port)
TEMPORAL_UI_PORT=$(free_port)
export TEMPORAL_FRONTEND_PORT TEMPORAL_UI_PORT
# What the shell may hold for another cluster is not this stack's.
unset TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_API_KEY DATABASE_URL
api=http://127.0.0.1:$port

say "building the image"
compose build --quiet
say "up: project $project, API through the proxy on $api, 2 API replicas, 2 workers"
started=$SECONDS
# `up` returns once every job has completed and the API replicas are healthy (the proxy waits for
# them), or fails naming the service that did not.
compose up --detach --scale api=2 --scale worker=2
deadline=$((SECONDS + timeout))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$api/readyz" || true)" = 200 ]; do
  [ "$SECONDS" -lt "$deadline" ] || { say "$api/readyz did not answer 200 in ${timeout}s"; exit 1; }
  sleep 2
done
healthy_workers() {  # `ps --format json` is one array, or one object a line, by Compose version
  compose ps --format json worker | python3 -c '
import json, sys
text = sys.stdin.read().strip()
rows = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines() if l]
print(sum(row.get("Health") == "healthy" for row in rows))'
}
until [ "$(healthy_workers)" = 2 ]; do
  [ "$SECONDS" -lt "$deadline" ] || { say "the workers did not become healthy in ${timeout}s"; exit 1; }
  sleep 2
done
say "up and ready in $((SECONDS - started))s"

say "demo data"
compose exec -T api python - >"$work/tokens.json" <<'PY'
import asyncio, json, os, tempfile
from pathlib import Path
from devstack.seed import seed
tokens = asyncio.run(seed(os.environ["DATABASE_URL"], Path(tempfile.mkdtemp()) / "tokens.json"))
print(json.dumps(tokens))
PY
mkdir -p "$work/.data"
python3 - "$work/tokens.json" "$api" >"$work/.data/demo.env" <<'PY'
import json, shlex, sys
tokens, api = json.load(open(sys.argv[1])), sys.argv[2]
print(f"export API={api}")
for name, token in tokens.items():
    print(f"export {name}={shlex.quote(token)}")
PY

say "the README walkthrough, through the proxy"
python3 - "$work/.data/demo.env" >"$work/walkthrough.sh" <<'PY'
import re, sys
readme = open("README.md").read()
section = readme.split("<!-- walkthrough:start -->")[1].split("<!-- walkthrough:end -->")[0]
script = "\n".join(re.findall(r"```bash\n(.*?)```", section, re.DOTALL))
assert "source .data/demo.env" in script, "the walkthrough no longer sources .data/demo.env"
print(script.replace("source .data/demo.env", f"source {sys.argv[1]}"))
PY
bash -euo pipefail "$work/walkthrough.sh" | tee "$work/walkthrough.out"

say "checking what it left"
# shellcheck source=/dev/null
source "$work/.data/demo.env"
status_of() {  # status_of <association id> <token>
  curl -sf "$api/v1/associations/$1" -H "Authorization: Bearer $2" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'
}
expect() {  # expect <what> <got> <wanted>
  if [ "$2" != "$3" ]; then say "$1: got '$2', wanted '$3'"; exit 1; fi
  say "$1: $2"
}
expect "Fabrikam's association (agreed)" \
  "$(status_of 00000000-0000-4000-8000-000000000401 "$FABRIKAM_TOKEN")" ended
expect "Tailspin's association (rejected)" \
  "$(status_of 00000000-0000-4000-8000-000000000402 "$TAILSPIN_TOKEN")" active
expect "Litware's association (check failed)" \
  "$(status_of 00000000-0000-4000-8000-000000000403 "$LITWARE_TOKEN")" active
records=$(curl -sf "$api/v1/association-records?kind=disassociation" \
  -H "Authorization: Bearer $CONTOSO_ADMIN_TOKEN" \
  | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))')
[ "$records" -ge 2 ] || { say "records: got $records disassociation records, wanted 2 or more"; exit 1; }
say "records: $records disassociation records"

# The proxy spread the calls over both replicas, and the two workers made one reconciler schedule.
# (Routes under /v1/ only: each replica's health check calls its own /readyz.)
served=$(compose logs --no-color api | { grep -F '"route": "/v1/' || true; } | cut -d' ' -f1 | sort -u | wc -l)
expect "API replicas that served requests" "$((served))" 2
created=$(compose logs --no-color worker | { grep -c 'reconciler schedule .* created' || true; })
expect "reconciler schedules created" "$created" 1

say "passed in $((SECONDS - started))s"
