"""Races: many submits on one association, and every kind of decision at once on one request."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.api.test_disassociations import decide, submit
from tests.conftest import api_client
from tests.reliability.harness import record_figures

pytestmark = pytest.mark.devserver

SUBMITS = 50
REQUESTS = 10
DECISIONS_EACH = 9  # three agrees, three rejects, three withdrawals


async def test_fifty_concurrent_submits_accept_exactly_one(settings, dev_env, dev_worker, factory):
    world = await factory.world()
    tokens = [world.customer, world.partner_admin, world.partner_submitter] * SUBMITS
    # Fifty submits a second from one account would be rate limited; this race is about the rest.
    unlimited = settings.model_copy(update={"rate_limit_submit": "1000/minute"})
    async with api_client(unlimited, dev_env.client) as api:
        responses = await asyncio.gather(
            *(submit(api, t, world.association_id) for t in tokens[:SUBMITS])
        )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 409: SUBMITS - 1}, [
        r.text for r in responses if r.status_code not in (201, 409)
    ]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"request_pending"}
    rows = await factory.fetch(
        "SELECT status FROM disassociation_requests WHERE association_id = %s", world.association_id
    )
    assert [r["status"] for r in rows] == ["pending"]
    record_figures(
        "race_submits", concurrent_submits=SUBMITS, accepted=1, refused=SUBMITS - 1, duplicated=0
    )


async def test_concurrent_agree_reject_withdraw_settle_each_request_once(api, factory):
    outcomes: Counter = Counter()
    for _ in range(REQUESTS):
        world = await factory.world()
        request_id = (await submit(api, world.customer, world.association_id)).json()["id"]
        attempts = [decide(api, world.partner_admin, request_id, "agree") for _ in range(3)]
        attempts += [
            decide(api, world.partner_processor, request_id, "reject", reason="no")
            for _ in range(3)
        ]
        attempts += [decide(api, world.customer, request_id, "withdraw") for _ in range(3)]
        responses = await asyncio.gather(*attempts)
        winners = [r.json() for r in responses if r.status_code == 200]
        losers = [r.json() for r in responses if r.status_code != 200]
        assert len(winners) == 1 and len(losers) == DECISIONS_EACH - 1
        outcome = winners[0]["status"]
        outcomes[outcome] += 1
        assert all(
            body["code"] == "not_pending" and body["request_status"] == outcome for body in losers
        )
        records = await factory.fetch(
            "SELECT action FROM association_records WHERE request_id = %s AND kind = 'disassociation'"
            " ORDER BY action",
            request_id,
        )
        assert sorted(r["action"] for r in records) == sorted(["requested", outcome])
        [association] = await factory.fetch(
            "SELECT status FROM associations WHERE id = %s", world.association_id
        )
        assert association["status"] == ("ended" if outcome == "agreed" else "active")
        notes = await factory.count(
            "SELECT count(*) FROM notifications WHERE request_id = %s", request_id
        )
        assert notes == 1 + 2 + (2 if outcome == "agreed" else 0)
    record_figures(
        "race_decisions", requests=REQUESTS, concurrent_decisions_each=DECISIONS_EACH,
        outcomes=dict(outcomes), settled_twice=0,
    )  # fmt: skip
