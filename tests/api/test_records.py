"""Association records: every kind and filter, newest first, and keyset pages through thousands
of rows without a gap or a repeat."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from psycopg.types.json import Jsonb

from tests.api.test_disassociations import assert_problem, submit
from tests.factories import bearer

pytestmark = pytest.mark.devserver

ROWS = 3000
KINDS = {
    "association": ["active", "ended"],
    "type_change": ["active"],
    "disassociation": ["pending", "agreed", "auto_agreed", "rejected", "expired", "withdrawn"],
}


async def seed_records(factory, pool, world) -> None:
    second_customer, _ = await factory.customer()
    second_association = await factory.association(world.partner_id, second_customer)
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(ROWS):
        kind = rng.choice(list(KINDS))
        customer, association = rng.choice(
            [(world.customer_id, world.association_id), (second_customer, second_association)]
        )
        rows.append((
            f"seed:{world.partner_id}:{n}", kind, f"{kind}-{n}", association, world.partner_id, customer,
            rng.choice(KINDS[kind]), "operator:seed", f"reason {n}",
            Jsonb({"n": n}) if kind == "type_change" else None,
            start + timedelta(hours=rng.randrange(0, 24 * 300)),  # many share an hour: ties
        ))  # fmt: skip
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO association_records (effect_key, kind, action, association_id, partner_id,"
            " customer_id, status, actor, reason, after, occurred_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


async def walk(
    api, token, query: str, *, path: str = "/v1/association-records", limit: int = 100
) -> list[dict]:
    """Every item of a list, page by page along its cursors."""
    items, cursor = [], None
    while True:
        url = f"{path}?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await api.get(url, headers=bearer(token))
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


async def expected(factory, world, where: str = "true", *params) -> list[str]:
    rows = await factory.fetch(
        f"SELECT id FROM association_records WHERE partner_id = %s AND {where}"
        " ORDER BY occurred_at DESC, id DESC",
        world.partner_id, *params,
    )  # fmt: skip
    return [str(r["id"]) for r in rows]


@pytest.fixture
async def seeded(factory, pool):
    world = await factory.world()
    await seed_records(factory, pool, world)
    return world


async def test_paging_through_thousands_of_records_has_no_gap_or_repeat(api, factory, seeded):
    items = await walk(api, seeded.partner_reader, "")
    ids = [r["id"] for r in items]
    assert len(ids) == len(set(ids)) and len(ids) > ROWS
    assert ids == await expected(factory, seeded)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_each_kind(api, factory, seeded, kind):
    items = await walk(api, seeded.partner_reader, f"kind={kind}")
    assert {r["kind"] for r in items} == {kind}
    assert [r["id"] for r in items] == await expected(factory, seeded, "kind = %s", kind)


async def test_customer_status_and_time_filters_combine(api, factory, seeded):
    since, until = "2025-03-01T00:00:00Z", "2025-06-01T00:00:00Z"
    query = f"kind=disassociation&status=rejected&customer_id={seeded.customer_id}&from={since}&to={until}"
    items = await walk(api, seeded.partner_reader, query.replace("+", "%2B"))
    truth = await expected(
        factory, seeded,
        "kind = 'disassociation' AND status = 'rejected' AND customer_id = %s"
        " AND occurred_at >= %s AND occurred_at < %s",
        seeded.customer_id, datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC),
    )  # fmt: skip
    assert [r["id"] for r in items] == truth and truth
    assert all(since <= r["occurred_at"].replace("+00:00", "Z") < until for r in items)


async def test_each_record_says_who_what_when_why(api, factory):
    world = await factory.world()
    request = (
        await submit(api, world.customer, world.association_id, reason="Cheaper elsewhere")
    ).json()
    [requested] = (
        await api.get("/v1/association-records?kind=disassociation", headers=bearer(world.customer))
    ).json()["items"]
    assert requested["actor"] == f"customer:{world.customer_id}"
    assert requested["action"] == "requested" and requested["status"] == "pending"
    assert requested["reason"] == "Cheaper elsewhere" and requested["request_id"] == request["id"]
    assert requested["occurred_at"] == request["submitted_at"]


async def test_records_are_scoped_and_validated(api, factory, seeded):
    other = await factory.world()
    assert [r["association_id"] for r in (await walk(api, other.partner_admin, ""))] == [
        str(other.association_id)
    ]
    only_mine = await walk(api, seeded.customer, "")
    assert {r["customer_id"] for r in only_mine} == {str(seeded.customer_id)}
    assert_problem(
        await api.get("/v1/association-records?kind=nonsense", headers=bearer(seeded.customer)),
        422,
        "validation_error",
    )
    assert_problem(
        await api.get("/v1/association-records?from=yesterday", headers=bearer(seeded.customer)),
        422,
        "validation_error",
    )


async def test_a_distributor_pages_through_its_resellers_records_merged(api, factory, pool, seeded):
    """A multi-partner scope reads each reseller's newest rows and merges them: the pages must be
    exactly the combined history, newest first, without a gap or a repeat."""
    sibling = await factory.partner("reseller", parent=seeded.distributor_id)
    sibling_customer, _ = await factory.customer()
    await factory.association(sibling, sibling_customer)
    await seed_records(factory, pool, type("W", (), {
        "partner_id": sibling, "customer_id": sibling_customer,
        "association_id": (await factory.fetch("SELECT id FROM associations WHERE customer_id = %s", sibling_customer))[0]["id"],
    })())  # fmt: skip
    items = await walk(api, seeded.distributor_admin, "kind=disassociation")
    truth = await factory.fetch(
        "SELECT id FROM association_records WHERE partner_id = ANY(%s) AND kind = 'disassociation'"
        " ORDER BY occurred_at DESC, id DESC",
        [seeded.partner_id, sibling],
    )
    assert [r["id"] for r in items] == [str(r["id"]) for r in truth] and len(truth) > 1000
