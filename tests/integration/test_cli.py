"""The operators' CLI, run as a user runs it, against the test database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack import services

CLI = str(Path(sys.executable).parent / "assocflow")


def run(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args],
        env=services.child_env(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.devserver
async def test_tokens_are_created_listed_and_revoked_from_the_cli(database_url, factory, api):
    customer_id, _ = await factory.customer()
    created = run(database_url, "tokens", "create", "--subject-kind", "customer",
                  "--subject-id", str(customer_id), "--expires-in", "P30D", "--label", "cli test")  # fmt: skip
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("af_") and len(token) > 40
    token_id = created.stderr.split("id:")[1].split()[0]
    assert (
        await api.get("/v1/associations", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200

    listed = run(database_url, "tokens", "list")
    line = next(row for row in listed.stdout.splitlines() if row.startswith(token_id))
    assert "active" in line and f"customer_service:{customer_id}" in line
    assert token not in listed.stdout

    assert run(database_url, "tokens", "revoke", token_id).returncode == 0
    assert (
        await api.get("/v1/associations", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401
    assert "revoked" in next(
        r for r in run(database_url, "tokens", "list").stdout.splitlines() if r.startswith(token_id)
    )
    actions = await factory.fetch(
        "SELECT action, actor FROM audit_log WHERE target_id = %s ORDER BY occurred_at", token_id
    )
    assert [a["action"] for a in actions] == ["token.created", "token.revoked"]
    assert all(a["actor"].startswith("operator:cli:") for a in actions)


def test_cli_refuses_unknown_subjects_and_tokens(database_url):
    unknown = run(database_url, "tokens", "create", "--subject-kind", "customer",
                  "--subject-id", "00000000-0000-4000-8000-999999999999")  # fmt: skip
    assert unknown.returncode != 0 and "no customer" in unknown.stderr
    assert (
        run(database_url, "tokens", "revoke", "00000000-0000-4000-8000-999999999999").returncode
        == 1
    )
    assert run(database_url, "migrate").stdout.strip() == "The schema is up to date."
