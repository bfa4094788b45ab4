"""Rotating ASSOCFLOW_ENCRYPTION_KEY: the newest key seals, any listed key opens, and
`assocflow secrets rotate` seals every stored secret again with the newest one.

These tests rotate every secret of their database, so they have one of their own on the test
PostgreSQL server: in the session's database the other tests' webhook endpoints must stay sealed
with the key their relay is given."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import InvalidToken
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from application.errors import Failure
from application.principal import Principal
from application.secrets import SEALED, rotate_secrets
from devstack import services
from store import webhooks
from store.db import open_pool
from tests.conftest import fresh_database
from webhooks.secrets import SecretBox, key_id, new_key, new_secret

CLI = str(Path(sys.executable).parent / "assocflow")
OPERATOR = Principal(kind="operator", subject_id="rotation-test")
A, B, C = new_key(), new_key(), new_key()


@pytest.fixture(scope="module")
async def rotation_db(postgres_server_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_server_url, "assocflow_rotation") as url:
        yield url


@pytest.fixture(scope="module")
async def rotation_pool(rotation_db: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(rotation_db, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def db(rotation_pool: AsyncConnectionPool) -> AsyncConnectionPool:
    """The rotation database with no stored secret in it."""
    present = await tables(rotation_pool)
    async with rotation_pool.connection() as conn:
        for table in present:
            await conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(table)))
        await conn.execute("DROP TABLE IF EXISTS sealed_things")
    return rotation_pool


async def endpoints(pool: AsyncConnectionPool, key: str, count: int) -> dict[uuid.UUID, str]:
    """`count` webhook endpoints whose signing secrets are sealed with `key`: id → secret."""
    made = {}
    async with pool.connection() as conn:
        for n in range(count):
            secret = new_secret()
            row = await webhooks.create_endpoint(
                conn,
                "customer",
                uuid.uuid4(),
                f"https://hooks.example/{n}",
                None,
                None,
                SecretBox(key).seal(secret),
            )
            made[row.id] = secret
    return made


async def stored(pool: AsyncConnectionPool) -> dict[uuid.UUID, bytes]:
    """Each endpoint's sealed secret, as it is in the database."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, secret_encrypted FROM webhook_endpoints")
        return {row[0]: bytes(row[1]) for row in await cur.fetchall()}


async def tables(pool: AsyncConnectionPool) -> set[str]:
    """The tables of SEALED that this database has (mfa_enrolments comes with a migration)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT t FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL",
            ([table for table, _ in SEALED],),
        )
        return {row[0] for row in await cur.fetchall()}


def test_a_secret_sealed_with_an_old_key_opens_under_the_new_list_before_rotation():
    old = SecretBox(A).seal("whsec_old")
    box = SecretBox(f"{B},{A}")
    assert box.open(old) == "whsec_old"
    assert SecretBox(f" {B} , {A} ,").open(old) == "whsec_old"  # blanks and a trailing comma
    with pytest.raises(InvalidToken):
        SecretBox(B).open(old)

    new = box.seal("whsec_new")  # the newest key seals
    assert SecretBox(B).open(new) == "whsec_new"
    with pytest.raises(InvalidToken):
        SecretBox(A).open(new)
    assert box.reseal(new) is None  # already under the newest key
    resealed = box.reseal(old)
    assert resealed is not None and SecretBox(B).open(resealed) == "whsec_old"
    assert box.newest_key_id == key_id(B) != key_id(A) and B not in box.newest_key_id

    with pytest.raises(InvalidToken):
        box.reseal(SecretBox(C).seal("whsec_lost"))
    assert not SecretBox(None).available and not SecretBox(" , ").available
    with pytest.raises(ValueError, match="key 2 of 2") as bad:
        SecretBox(f"{B},not-a-key")
    assert "not-a-key" not in str(bad.value)  # a key never goes into a message


async def test_rotation_reseals_every_endpoint_under_the_newest_key(db):
    secrets = await endpoints(db, A, 7)
    secrets |= await endpoints(db, B, 2)  # made after the new key was put first
    present = await tables(db)
    assert "webhook_endpoints" in present

    counts = await rotate_secrets(db, OPERATOR, f"{B},{A}", batch_size=3)
    assert counts == {table: 0 for table in present} | {"webhook_endpoints": 7}
    assert {id_: SecretBox(B).open(value) for id_, value in (await stored(db)).items()} == secrets

    before = await stored(db)
    assert await rotate_secrets(db, OPERATOR, f"{B},{A}", batch_size=3) == {
        table: 0 for table in present
    }  # idempotent: nothing left to re-encrypt, nothing rewritten
    assert await stored(db) == before

    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT actor, target_kind, target_id, after FROM audit_log"
            " WHERE action = 'encryption_key.rotated' ORDER BY occurred_at, id"
        )
        entries = await cur.fetchall()
    assert [entry[:3] for entry in entries[-2:]] == [
        ("operator:rotation-test", "encryption_key", key_id(B))
    ] * 2
    assert entries[-2][3]["reencrypted"]["webhook_endpoints"] == 7
    assert entries[-1][3] == {"reencrypted": dict.fromkeys(present, 0), "unreadable": {}}


async def test_any_table_is_walked_by_its_primary_key_in_batches(db):
    """A composite key, values sealed with either key, and rows without a secret."""
    async with db.connection() as conn:
        await conn.execute(
            "CREATE TABLE sealed_things (kind text, id int, secret bytea, PRIMARY KEY (kind, id))"
        )
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO sealed_things VALUES (%s, %s, %s)",
                [
                    (kind, n, None if n == 3 else SecretBox(B if n % 4 == 0 else A).seal(f"{kind}{n}"))
                    for kind in ("a", "b")
                    for n in range(10)
                ],
            )  # fmt: skip
    counts = await rotate_secrets(
        db, OPERATOR, f"{B},{A}", batch_size=4, sealed=(("sealed_things", "secret"),)
    )
    assert counts == {"sealed_things": 2 * 6}  # of 10 per kind: 3 under B, 1 without a secret
    async with db.connection() as conn:
        cur = await conn.execute("SELECT kind, id, secret FROM sealed_things")
        rows = await cur.fetchall()
    assert {(kind, n): v and SecretBox(B).open(v) for kind, n, v in rows} == {
        (kind, n): None if n == 3 else f"{kind}{n}" for kind in ("a", "b") for n in range(10)
    }


async def test_a_table_that_does_not_exist_yet_is_left_out(db):
    await endpoints(db, A, 1)
    counts = await rotate_secrets(
        db,
        OPERATOR,
        f"{B},{A}",
        sealed=(("no_such_table", "secret_encrypted"), ("webhook_endpoints", "secret_encrypted")),
    )
    assert counts == {"webhook_endpoints": 1}


async def test_secrets_no_key_opens_fail_the_rotation_after_the_rest_is_done(db):
    made = await endpoints(db, A, 3)
    lost = await endpoints(db, C, 1)  # sealed with a key missing from the list
    with pytest.raises(Failure) as failed:
        await rotate_secrets(db, OPERATOR, f"{B},{A}")
    assert failed.value.code == "secrets_unreadable"
    assert failed.value.extra["unreadable"] == {"webhook_endpoints": 1}
    assert failed.value.extra["reencrypted"]["webhook_endpoints"] == 3
    values = await stored(db)
    assert {id_: SecretBox(B).open(values[id_]) for id_ in made} == made
    assert {id_: SecretBox(C).open(values[id_]) for id_ in lost} == lost  # left as it was


async def test_only_an_operator_with_a_key_rotates(db):
    with pytest.raises(Failure) as no_key:
        await rotate_secrets(db, OPERATOR, None)
    assert no_key.value.code == "encryption_key_missing"
    with pytest.raises(Failure) as bad_key:
        await rotate_secrets(db, OPERATOR, f"{B},{A[:-4]}")
    assert bad_key.value.code == "encryption_key_invalid" and "key 2 of 2" in bad_key.value.detail
    partner = Principal(kind="partner_user", subject_id=str(uuid.uuid4()), admin=True)
    with pytest.raises(Failure) as refused:
        await rotate_secrets(db, partner, f"{B},{A}")
    assert refused.value.code == "forbidden"


def run(database_url: str, key: str | None, *args: str) -> subprocess.CompletedProcess:
    env = services.child_env(DATABASE_URL=database_url)
    env.pop("ASSOCFLOW_ENCRYPTION_KEY", None)
    if key is not None:
        env["ASSOCFLOW_ENCRYPTION_KEY"] = key
    return subprocess.run(
        [CLI, "secrets", "rotate", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_the_cli_rotates_and_reports_what_it_re_encrypted(db, rotation_db):
    secrets = await endpoints(db, A, 5)

    missing = run(rotation_db, None)
    assert missing.returncode == 1 and "encryption_key_missing" in missing.stderr

    done = run(rotation_db, f"{B},{A}", "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    assert "webhook_endpoints: 5 re-encrypted" in done.stdout.splitlines()
    assert "Re-encrypted 5 secrets" in done.stdout
    assert {id_: SecretBox(B).open(v) for id_, v in (await stored(db)).items()} == secrets

    again = run(rotation_db, f"{B},{A}")
    assert again.returncode == 0 and "webhook_endpoints: 0 re-encrypted" in again.stdout

    await endpoints(db, C, 1)
    lost = run(rotation_db, f"{B},{A}")
    assert lost.returncode == 1
    assert "secrets_unreadable" in lost.stderr and "webhook_endpoints: 1 unreadable" in lost.stderr
    assert A not in lost.stderr + lost.stdout and B not in lost.stderr + lost.stdout
