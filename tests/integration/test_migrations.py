import asyncio

from devstack import services
from store.db import migrate, migrations


async def test_migrations_apply_once_even_when_run_again_and_concurrently(postgres_server_url):
    url = services.ensure_database(postgres_server_url, "assocflow_migrations_test")
    try:
        results = await asyncio.gather(*(migrate(url) for _ in range(3)))
        applied = [names for names in results if names]
        assert applied == [[name for _, name, _ in migrations()]]  # one run applied everything
        assert await migrate(url) == []
    finally:
        services.drop_database(postgres_server_url, "assocflow_migrations_test")


async def test_schema_enforces_one_pending_request_per_association(factory):
    world = await factory.world()
    insert = (
        "INSERT INTO disassociation_requests (id, association_id, partner_id, customer_id, initiator,"
        " requested_by, status, reason, submitted_at, respond_by, on_timeout, workflow_id,"
        " account_check) VALUES (gen_random_uuid(), %s, %s, %s, 'customer', 'customer:x',"
        " 'pending', 'r', now(), now() + interval '1 day', 'auto_agreed', gen_random_uuid()::text,"
        " '{}')"
    )
    args = (world.association_id, world.partner_id, world.customer_id)
    async with factory.pool.connection() as conn:
        await conn.execute(insert, args)
        try:
            await conn.execute(insert, args)
            raised = False
        except Exception as err:  # psycopg.errors.UniqueViolation
            raised = "requests_one_pending_per_association" in str(err)
    assert raised
