"""Every activity is safe to retry: running it twice changes nothing the second time."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.requests import (
    AcceptInput,
    ReminderInput,
    RequestActivities,
    SettleInput,
)
from domain.types import SYSTEM, AccountStanding, Actor, RequestStatus, Side
from store import requests
from store.accounts import PostgresStanding
from tests.factories import command

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def activities(pool) -> RequestActivities:
    return RequestActivities(pool, PostgresStanding(pool))


async def effects(factory, world, request_id) -> dict[str, int]:
    return {
        "requests": await factory.count(
            "SELECT count(*) FROM requests WHERE association_id = %s",
            world.association_id,
        ),
        "records": await factory.count(
            "SELECT count(*) FROM association_records WHERE association_id = %s",
            world.association_id,
        ),
        "notifications": await factory.count(
            "SELECT count(*) FROM notifications WHERE request_id = %s", request_id
        ),
    }


def partner_agrees(world, cmd, **fields: Any) -> SettleInput:
    """The partner admin's agreement to `cmd`'s request, an hour after it was accepted at T0."""
    return SettleInput(
        request_id=cmd.request_id,
        outcome=RequestStatus.AGREED,
        actor=Actor(kind="partner_user", id=str(world.partner_admin_id), side=Side.PARTNER),
        decided_at=T0 + timedelta(hours=1),
        **fields,
    )


async def test_accept_twice_stores_one_request_one_record_one_notification(factory, pool):
    world = await factory.world()
    acts, env = activities(pool), ActivityEnvironment()
    cmd = command(world)
    first = await env.run(acts.accept_request, AcceptInput(command=cmd, accepted_at=T0))
    after_first = await effects(factory, world, cmd.request_id)
    second = await env.run(
        acts.accept_request, AcceptInput(command=cmd, accepted_at=T0 + timedelta(seconds=5))
    )
    assert first.accepted and second.accepted
    assert second.request == first.request  # the retry returns the request as first accepted
    assert first.request.respond_by == T0 + timedelta(days=10)
    assert await effects(factory, world, cmd.request_id) == after_first
    # The association's own "associated" record, plus "requested".
    assert after_first == {"requests": 1, "records": 2, "notifications": 1}
    [note] = await factory.fetch(
        "SELECT recipient_kind, recipient_id, event_type FROM notifications WHERE request_id = %s",
        cmd.request_id,
    )
    assert note == {
        "recipient_kind": "partner",
        "recipient_id": world.partner_id,
        "event_type": "disassociation.requested",
    }


async def test_settle_twice_ends_the_association_exactly_once(factory, pool):
    world = await factory.world()
    acts, env = activities(pool), ActivityEnvironment()
    cmd = command(world)
    await env.run(acts.accept_request, AcceptInput(command=cmd, accepted_at=T0))
    agree = partner_agrees(world, cmd, reason="fine")
    first = await env.run(acts.settle_request, agree)
    after_first = await effects(factory, world, cmd.request_id)
    [association_after_first] = await factory.fetch(
        "SELECT status, ended_at FROM associations WHERE id = %s", world.association_id
    )
    retry = agree.model_copy(update={"decided_at": T0 + timedelta(hours=2)})
    second = await env.run(acts.settle_request, retry)

    assert first.status is RequestStatus.AGREED and second == first
    assert association_after_first == {"status": "ended", "ended_at": T0 + timedelta(hours=1)}
    assert await factory.fetch(
        "SELECT status, ended_at FROM associations WHERE id = %s", world.association_id
    ) == [association_after_first]
    assert await effects(factory, world, cmd.request_id) == after_first
    events = await factory.fetch(
        "SELECT event_type, recipient_kind FROM notifications WHERE request_id = %s"
        " ORDER BY event_type, recipient_kind",
        cmd.request_id,
    )
    assert [(e["event_type"], e["recipient_kind"]) for e in events] == [
        ("association.ended", "customer"),
        ("association.ended", "partner"),
        ("disassociation.agreed", "customer"),
        ("disassociation.agreed", "partner"),
        ("disassociation.requested", "partner"),
    ]
    actions = await factory.fetch(
        "SELECT kind, action FROM association_records WHERE association_id = %s ORDER BY kind, action",
        world.association_id,
    )
    assert [(a["kind"], a["action"]) for a in actions] == [
        ("association", "associated"),
        ("association", "ended"),
        ("disassociation", "agreed"),
        ("disassociation", "requested"),
    ]


async def test_a_second_outcome_never_overrides_the_first(factory, pool):
    world = await factory.world()
    acts, env = activities(pool), ActivityEnvironment()
    cmd = command(world, initiator=Side.PARTNER)
    await env.run(acts.accept_request, AcceptInput(command=cmd, accepted_at=T0))
    expire = SettleInput(
        request_id=cmd.request_id, outcome=RequestStatus.EXPIRED, actor=SYSTEM, decided_at=T0
    )
    await env.run(acts.settle_request, expire)
    late_agree = expire.model_copy(update={"outcome": RequestStatus.AGREED})
    result = await env.run(acts.settle_request, late_agree)
    assert result.status is RequestStatus.EXPIRED
    [association] = await factory.fetch(
        "SELECT status FROM associations WHERE id = %s", world.association_id
    )
    assert association["status"] == "active"


async def test_reminder_twice_reminds_once_and_not_after_the_outcome(factory, pool):
    world = await factory.world()
    acts, env = activities(pool), ActivityEnvironment()
    cmd = command(world)
    await env.run(acts.accept_request, AcceptInput(command=cmd, accepted_at=T0))
    remind = ReminderInput(request_id=cmd.request_id, at=T0 + timedelta(days=8))
    assert await env.run(acts.send_reminder, remind)
    assert await env.run(acts.send_reminder, remind)
    count = "SELECT count(*) FROM notifications WHERE request_id = %s AND event_type = 'disassociation.reminder'"
    assert await factory.count(count, cmd.request_id) == 1
    await env.run(
        acts.settle_request,
        SettleInput(
            request_id=cmd.request_id, outcome=RequestStatus.WITHDRAWN, actor=SYSTEM, decided_at=T0
        ),
    )
    other = await factory.world()
    cmd2 = command(other)
    await env.run(acts.accept_request, AcceptInput(command=cmd2, accepted_at=T0))
    await env.run(
        acts.settle_request,
        SettleInput(
            request_id=cmd2.request_id, outcome=RequestStatus.WITHDRAWN, actor=SYSTEM, decided_at=T0
        ),
    )
    assert not await env.run(
        acts.send_reminder, remind.model_copy(update={"request_id": cmd2.request_id})
    )
    assert await factory.count(count, cmd2.request_id) == 0


async def test_twenty_concurrent_acceptances_accept_exactly_one(factory, pool):
    world = await factory.world()
    acts, env = activities(pool), ActivityEnvironment()
    commands = [command(world) for _ in range(20)]
    results = await asyncio.gather(
        *(env.run(acts.accept_request, AcceptInput(command=c, accepted_at=T0)) for c in commands)
    )
    accepted = [r for r in results if r.accepted]
    assert len(accepted) == 1
    assert all(r.check.failed("no_pending_request") for r in results if not r.accepted)
    assert (
        await factory.count(
            "SELECT count(*) FROM requests WHERE association_id = %s",
            world.association_id,
        )
        == 1
    )


async def test_request_limit_counts_every_accepted_request_of_the_same_side(factory, pool):
    world = await factory.world()
    acts, env = activities(pool), ActivityEnvironment()
    first = command(world)
    await env.run(acts.accept_request, AcceptInput(command=first, accepted_at=T0))
    await env.run(
        acts.settle_request,
        SettleInput(
            request_id=first.request_id,
            outcome=RequestStatus.WITHDRAWN,
            actor=SYSTEM,
            decided_at=T0,
        ),
    )
    again = await env.run(
        acts.accept_request,
        AcceptInput(command=command(world), accepted_at=T0 + timedelta(days=30)),
    )
    assert not again.accepted and again.check.failed("within_request_limit")
    assert again.check.next_allowed_at == datetime(2026, 6, 2, 10, tzinfo=UTC)
    # The other side has its own allowance.
    partner_side = await env.run(
        acts.accept_request,
        AcceptInput(
            command=command(world, initiator=Side.PARTNER), accepted_at=T0 + timedelta(days=30)
        ),
    )
    assert partner_side.accepted
    # A configured limit of 2 lets the customer submit a second one.
    other = await factory.world()
    c1 = command(other, request_limit=2)
    await env.run(acts.accept_request, AcceptInput(command=c1, accepted_at=T0))
    await env.run(
        acts.settle_request,
        SettleInput(
            request_id=c1.request_id, outcome=RequestStatus.REJECTED, actor=SYSTEM, decided_at=T0
        ),
    )
    second = await env.run(
        acts.accept_request,
        AcceptInput(command=command(other, request_limit=2), accepted_at=T0 + timedelta(days=1)),
    )
    assert second.accepted


async def test_an_association_ends_once_even_if_a_second_request_were_agreed(factory, pool):
    """The association's own compare-and-set: a second agreement (which the checks never let
    through) still cannot end it again, move its end time, or notify twice."""
    world = await factory.world()
    acts, env = activities(pool), ActivityEnvironment()
    first = command(world)
    await env.run(acts.accept_request, AcceptInput(command=first, accepted_at=T0))
    agree = SettleInput(
        request_id=first.request_id, outcome=RequestStatus.AGREED, actor=SYSTEM, decided_at=T0
    )
    await env.run(acts.settle_request, agree)
    second = command(world, initiator=Side.PARTNER)
    async with pool.connection() as conn:  # slip a second pending request past the checks
        await conn.execute(
            "INSERT INTO requests (id, kind, association_id, partner_id, customer_id,"
            " initiator, requested_by, status, reason, submitted_at, respond_by, on_timeout,"
            " workflow_id, account_check) VALUES (%s, 'disassociation', %s, %s, %s, 'partner',"
            " 'x', 'pending', 'r', %s, %s, 'expired', %s, '{}')",
            (second.request_id, world.association_id, world.partner_id, world.customer_id,
             T0, T0 + timedelta(days=1), str(second.request_id)),
        )  # fmt: skip
    later = agree.model_copy(
        update={"request_id": second.request_id, "decided_at": T0 + timedelta(days=1)}
    )
    await env.run(acts.settle_request, later)
    [association] = await factory.fetch(
        "SELECT status, ended_at, ended_by_request_id FROM associations WHERE id = %s",
        world.association_id,
    )
    assert association == {
        "status": "ended",
        "ended_at": T0,
        "ended_by_request_id": first.request_id,
    }
    assert (
        await factory.count(
            "SELECT count(*) FROM notifications WHERE association_id = %s AND event_type = 'association.ended'",
            world.association_id,
        )
        == 2
    )  # one to each side, once
    assert (
        await factory.count(
            "SELECT count(*) FROM association_records WHERE association_id = %s AND action = 'ended'",
            world.association_id,
        )
        == 1
    )


async def test_the_decision_that_settled_a_request_is_known_by_its_id(factory, pool):
    """A settle stores the id of the message that carried its decision; a later settle of the same
    request (a cancellation, the same decision with another id) does not replace it."""
    world = await factory.world()
    acts, env = activities(pool), ActivityEnvironment()
    cmd = command(world)
    await env.run(acts.accept_request, AcceptInput(command=cmd, accepted_at=T0))
    agree = partner_agrees(world, cmd, decision_id="update-1")
    first = await env.run(acts.settle_request, agree)
    other = await env.run(acts.settle_request, agree.model_copy(update={"decision_id": "update-2"}))
    assert first.decision_id == other.decision_id == "update-1"  # who settled it, told to both
    cancel = SettleInput(
        request_id=cmd.request_id,
        outcome=RequestStatus.CANCELLED,
        actor=SYSTEM,
        decided_at=T0 + timedelta(hours=2),
    )
    await env.run(acts.settle_request, cancel)

    async with pool.connection() as conn:
        settled = await requests.get_settled(conn, cmd.request_id)
    assert settled is not None and settled.status is RequestStatus.AGREED
    assert settled.decision_id == "update-1"


class CountedStanding:
    """PostgreSQL's standing, counting the reads."""

    def __init__(self, pool) -> None:
        self._inner = PostgresStanding(pool)
        self.reads = 0

    async def standing(self, customer_id):
        self.reads += 1
        return await self._inner.standing(customer_id)


async def test_the_acceptance_checks_on_the_standing_the_submit_read(factory, pool):
    """The API's account check read the customer's standing a moment before the start: the
    acceptance checks the association again under its lock on that standing, without reading
    it again; a command without one (from an earlier build) has it read."""
    env = ActivityEnvironment()
    frozen = AccountStanding(frozen=True)
    for given, reads, accepted in (
        (frozen, 0, False),
        (AccountStanding(), 0, True),
        (None, 1, True),
    ):
        world = await factory.world()
        source = CountedStanding(pool)
        acts = RequestActivities(pool, source)
        cmd = command(world).model_copy(update={"standing": given})
        admission = await env.run(acts.accept_request, AcceptInput(command=cmd, accepted_at=T0))
        assert (admission.accepted, source.reads) == (accepted, reads)
        if not accepted:
            assert admission.check.failed("customer_not_frozen")
