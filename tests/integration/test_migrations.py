import asyncio

import psycopg
import pytest

from devstack import services
from domain.types import RequestKind
from store.db import migrate, migrations
from tests.factories import command


async def test_migrations_apply_once_even_when_run_again_and_concurrently(postgres_server_url):
    url = services.ensure_database(postgres_server_url, "assocflow_migrations_test")
    try:
        results = await asyncio.gather(*(migrate(url) for _ in range(3)))
        applied = [names for names in results if names]
        assert applied == [[name for _, name, _ in migrations()]]  # one run applied everything
        assert await migrate(url) == []
    finally:
        services.drop_database(postgres_server_url, "assocflow_migrations_test")


@pytest.mark.parametrize(
    ("first", "second"),
    [("disassociation", "disassociation"), ("disassociation", "type_change"),
     ("type_change", "disassociation")],
)  # fmt: skip
async def test_schema_enforces_one_pending_request_of_any_kind_per_association(
    factory, first, second
):
    world = await factory.world()
    insert = (
        "INSERT INTO requests (id, kind, from_type, new_type, association_id, partner_id,"
        " customer_id, initiator, requested_by, status, reason, submitted_at, respond_by,"
        " on_timeout, workflow_id, account_check) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s,"
        " %s, 'customer', 'customer:x', 'pending', 'r', now(), now() + interval '1 day',"
        " 'expired', gen_random_uuid()::text, '{}')"
    )

    def args(kind):
        types = ("resale", "referral") if kind == "type_change" else (None, None)
        return (kind, *types, world.association_id, world.partner_id, world.customer_id)

    async with factory.pool.connection() as conn:
        await conn.execute(insert, args(first))
        with pytest.raises(psycopg.errors.UniqueViolation) as refused:
            await conn.execute(insert, args(second))
    assert "requests_one_pending_per_association" in str(refused.value)


async def test_schema_holds_a_type_changes_types_and_outcomes(factory):
    world = await factory.world()
    insert = (
        "INSERT INTO requests (id, kind, from_type, new_type, association_id, partner_id,"
        " customer_id, initiator, requested_by, status, reason, submitted_at, respond_by,"
        " decided_at, on_timeout, workflow_id, account_check) VALUES (gen_random_uuid(), %s, %s,"
        " %s, %s, %s, %s, 'customer', 'customer:x', %s, 'r', now(), now() + interval '1 day',"
        " now(), 'expired', gen_random_uuid()::text, '{}')"
    )
    ids = (world.association_id, world.partner_id, world.customer_id)
    for kind, from_type, new_type, status in (
        ("type_change", None, "referral", "agreed"),  # a type change names both types
        ("type_change", "resale", "resale", "agreed"),  # ...and they differ
        ("disassociation", "resale", "referral", "agreed"),  # only a type change has them
        ("type_change", "resale", "referral", "auto_agreed"),  # its deadline expires it
    ):
        async with factory.pool.connection() as conn:
            with pytest.raises(psycopg.errors.CheckViolation):
                await conn.execute(insert, (kind, from_type, new_type, *ids, status))


async def test_the_previous_builds_queries_still_run_while_it_drains(factory):
    """Workers of the build before 0012 keep settling their pinned requests during a rainbow
    deploy: their statements on the old table name work, on disassociations only."""
    world = await factory.world()
    async with factory.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO disassociation_requests (id, association_id, partner_id, customer_id,"
            " initiator, requested_by, status, reason, submitted_at, respond_by, on_timeout,"
            " workflow_id, account_check) VALUES (gen_random_uuid(), %s, %s, %s, 'customer',"
            " 'customer:x', 'pending', 'r', now(), now() + interval '1 day', 'auto_agreed',"
            " gen_random_uuid()::text, '{}') RETURNING id",
            (world.association_id, world.partner_id, world.customer_id),
        )
        [request_id] = await cur.fetchone()
        cur = await conn.execute(
            "UPDATE disassociation_requests SET status = 'agreed', decided_at = now(),"
            " decided_by = 'x' WHERE id = %s AND status = 'pending' RETURNING status",
            (request_id,),
        )
        assert await cur.fetchone() == ("agreed",)
    [row] = await factory.fetch("SELECT kind, status FROM requests WHERE id = %s", request_id)
    assert row == {"kind": "disassociation", "status": "agreed"}
    change = command(world, kind=RequestKind.TYPE_CHANGE)
    async with factory.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO requests (id, kind, from_type, new_type, association_id, partner_id,"
            " customer_id, initiator, requested_by, status, reason, submitted_at, respond_by,"
            " on_timeout, workflow_id, account_check) VALUES (%s, 'type_change', 'resale',"
            " 'referral', %s, %s, %s, 'customer', 'customer:x', 'pending', 'r', now(),"
            " now() + interval '1 day', 'expired', gen_random_uuid()::text, '{}')",
            (change.request_id, world.association_id, world.partner_id, world.customer_id),
        )
    assert (
        await factory.count(
            "SELECT count(*) FROM disassociation_requests WHERE id = %s", change.request_id
        )
        == 0
    )
