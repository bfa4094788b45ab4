"""The in-app message center: newest first, keyset pages, unread filter, mark read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from store import notifications
from tests.api.test_disassociations import assert_problem, decide, submit
from tests.factories import bearer

pytestmark = pytest.mark.devserver


async def test_both_sides_are_told_of_every_step(api, factory):
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    await decide(api, world.partner_admin, request["id"], "agree")
    partner = (await api.get("/v1/notifications", headers=bearer(world.partner_reader))).json()[
        "items"
    ]
    customer = (await api.get("/v1/notifications", headers=bearer(world.customer))).json()["items"]
    assert [n["event_type"] for n in customer] in (
        ["association.ended", "disassociation.agreed"],
        ["disassociation.agreed", "association.ended"],
    )
    assert {n["event_type"] for n in partner} == {
        "disassociation.requested", "disassociation.agreed", "association.ended",
    }  # fmt: skip
    assert partner[-1]["event_type"] == "disassociation.requested"  # newest first
    assert all(n["summary"] and n["request_id"] == request["id"] for n in partner + customer)
    assert all(n["payload"]["type"] == n["event_type"] for n in partner)
    # Told at once: the outcome reaches both sides in the same moment.
    agreed = {
        n["created_at"] for n in partner + customer if n["event_type"] == "disassociation.agreed"
    }
    assert len(agreed) == 1


async def test_unread_filter_and_mark_read(api, factory):
    world = await factory.world()
    await submit(api, world.customer, world.association_id)
    [note] = (
        await api.get("/v1/notifications?unread=true", headers=bearer(world.partner_admin))
    ).json()["items"]
    assert note["read_at"] is None
    assert_problem(
        await api.post(f"/v1/notifications/{note['id']}/read", headers=bearer(world.customer)),
        404,
        "not_found",
    )
    read = await api.post(
        f"/v1/notifications/{note['id']}/read", headers=bearer(world.partner_reader)
    )
    assert read.status_code == 200 and read.json()["read_at"] is not None
    again = await api.post(
        f"/v1/notifications/{note['id']}/read", headers=bearer(world.partner_admin)
    )
    assert again.json()["read_at"] == read.json()["read_at"]  # reading twice changes nothing
    assert (
        await api.get("/v1/notifications?unread=true", headers=bearer(world.partner_admin))
    ).json()["items"] == []
    read_only = (
        await api.get("/v1/notifications?unread=false", headers=bearer(world.partner_admin))
    ).json()["items"]
    assert [n["id"] for n in read_only] == [note["id"]]


async def test_pages_walk_every_notification_once_newest_first(api, factory, pool):
    customer_id, token = await factory.customer()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with pool.connection() as conn:
        for n in range(57):  # some share a timestamp: the id breaks the tie
            await notifications.notify(
                conn, recipients=[("customer", customer_id, f"test:{uuid.uuid4()}")],
                event_type="disassociation.reminder", summary=f"n{n}", data={"n": n},
                created_at=start + timedelta(minutes=n // 3),
            )  # fmt: skip
    seen, cursor = [], None
    while True:
        page = (
            await api.get(
                "/v1/notifications?limit=10" + (f"&cursor={cursor}" if cursor else ""),
                headers=bearer(token),
            )
        ).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len({n["id"] for n in seen}) == 57
    keys = [(n["created_at"], n["id"]) for n in seen]
    assert keys == sorted(keys, reverse=True)


async def test_one_event_told_to_several_recipients_carries_each_ones_own_data(factory, pool):
    """A request's event reaches its parties in one statement, each with what it may read."""
    first, _ = await factory.customer()
    second, _ = await factory.customer()
    key = f"test:{uuid.uuid4()}"
    recipients = [("customer", first, f"{key}:first"), ("customer", second, f"{key}:second")]
    async with pool.connection() as conn:
        await notifications.notify(
            conn, recipients=recipients, event_type="disassociation.agreed", summary="s",
            data=[{"for": "first"}, {"for": "second"}], created_at=datetime.now(UTC),
        )  # fmt: skip
        with pytest.raises(ValueError, match="one each, or one for all"):
            await notifications.notify(
                conn, recipients=recipients, event_type="disassociation.agreed", summary="s",
                data=[{"for": "first"}], created_at=datetime.now(UTC),
            )  # fmt: skip
    told = await factory.fetch(
        "SELECT recipient_id, payload FROM notifications WHERE effect_key LIKE %s",
        f"{key}:%",
    )
    assert {row["recipient_id"]: row["payload"]["data"] for row in told} == {
        first: {"for": "first"},
        second: {"for": "second"},
    }
