"""The long-lived connections a process holds come back by themselves when PostgreSQL ends them
(here by `pg_terminate_backend`, which is what a restart does to each session): the console's
live updates, the webhook relay's wake-up, and the presence that Idempotency-Key claims name."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta

from psycopg.conninfo import make_conninfo

from application.live import RESUMED, Hub
from application.principal import Principal
from store import idempotency, listen
from store import presence as presence_module
from store import webhooks as webhook_store
from store.db import open_pool
from store.presence import Presence
from tests.conftest import fresh_database, make_settings
from webhooks.relay import WebhookRelay

BACK_WITHIN = 5.0  # the hub waits 2 s before listening again; the relay 2 s; the presence 0.5 s


async def listening_pids(pool, channel: str) -> set[int]:
    """The backends listening on `channel` in this database (other processes' too: the suite's
    console server listens on the session's database)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND query = %s AND pid <> pg_backend_pid()",
            (f'LISTEN "{channel}"',),
        )
        return {pid for (pid,) in await cur.fetchall()}


async def listening_pid(pool, channel: str, *, besides: set[int] = frozenset()) -> int | None:
    """The one backend listening on `channel` that is not in `besides`, if there is one."""
    found = await listening_pids(pool, channel) - besides
    assert len(found) <= 1, found
    return next(iter(found), None)


async def until(condition, within: float, what: str):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := await condition():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {within}s")


async def terminate(pool, pid: int) -> None:
    """End backend `pid`'s session, and return once it has ended (without the timeout,
    pg_terminate_backend returns as soon as the signal is sent, and the session may still answer
    a statement or two before it goes)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        assert await cur.fetchone() == (True,)


async def holding_pid(pool, holder: int) -> int:
    """The backend whose session holds presence `holder`'s advisory lock."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s::oid", (holder,)
        )
        [(pid,)] = await cur.fetchall()
    return pid


async def test_a_claim_whose_process_lost_its_presence_is_taken_over_at_once(database_url, pool):
    presence = Presence(database_url)
    presence.start()
    try:
        first_holder = await presence.holder_within(5)
        assert first_holder is not None
        caller, key, body = f"customer:{uuid.uuid4()}", str(uuid.uuid4()), b"h"
        stale, ttl = timedelta(seconds=15), timedelta(hours=24)

        async def claim(holder):
            async with pool.connection() as conn:
                outcome, _ = await idempotency.claim(
                    conn, caller, key, "POST /x", body, stale, ttl, holder
                )
            return outcome

        assert await claim(first_holder) == "new"
        assert await claim(None) == "in_progress"  # its process is present: it is running

        await terminate(pool, await holding_pid(pool, first_holder))
        # The very next look sees the claim abandoned, long before it would expire.
        assert await until(lambda: _is_new(claim), 1.0, "the takeover")

        async def present_again() -> bool:
            return presence.holder is not None and presence.holder != first_holder

        await until(present_again, BACK_WITHIN, "a new presence")
    finally:
        await presence.close()


async def test_a_claim_made_as_postgresql_comes_back_waits_for_the_presence_not_the_pause(
    database_url, pool, monkeypatch
):
    """A request right after a restart, before the presence's next attempt, would claim its key
    with no holder, and a retry after its process died would wait out the claim's expiry
    (15 s). Asking for the holder makes the presence connect at once."""
    monkeypatch.setattr(presence_module, "RECONNECT_AFTER", 60.0)
    presence = Presence(database_url)
    presence.start()
    try:
        first_holder = await presence.holder_within(5)
        assert first_holder is not None
        await terminate(pool, await holding_pid(pool, first_holder))

        async def absent() -> bool:
            return presence.holder is None

        await until(absent, 5.0, "the presence noticing its loss")

        started = time.monotonic()
        holder = await presence.holder_within(5)
        assert holder is not None and holder != first_holder
        assert time.monotonic() - started < 2.0  # not the minute's pause
    finally:
        await presence.close()


async def test_a_claim_waits_no_longer_than_a_failed_attempt_when_the_presence_cannot_be_made(
    database_url, monkeypatch
):
    """PostgreSQL answers but refuses the presence's connection (here: no such database; in life,
    too many clients): a claim waits for the one attempt it asked for, not its whole bound, and
    falls back on its expiry; asking again and again does not make attempts back to back."""
    monkeypatch.setattr(presence_module, "RECONNECT_AFTER", 60.0)
    presence = Presence(make_conninfo(database_url, dbname="no_such_database"))
    presence.start()
    try:
        started = time.monotonic()
        answers = [await presence.holder_within(5) for _ in range(5)]
        elapsed = time.monotonic() - started
        assert answers == [None] * 5
        assert elapsed < 2.0, f"five claims waited {elapsed:.1f}s for a presence that cannot be"
        assert presence.attempts <= 6, presence.attempts  # one per claim at most, and the first
        assert elapsed >= 4 * presence_module.RECONNECT_GAP  # ... each after a gap
    finally:
        await presence.close()


async def _is_new(claim) -> bool:
    return await claim(None) == "new"


async def test_open_pages_are_told_to_refresh_once_the_live_updates_are_back(
    database_url, pool, factory
):
    hub = Hub(database_url)
    customer_id, _ = await factory.customer()
    who = Principal(kind="customer", subject_id=str(customer_id), customer_id=customer_id)
    others = await listening_pids(pool, listen.CHANNEL)
    try:
        async with hub.subscribe(who) as queue:
            await asyncio.wait_for(hub.listening.wait(), 5)
            pid = await until(
                lambda: listening_pid(pool, listen.CHANNEL, besides=others),
                BACK_WITHIN,
                "the hub's LISTEN",
            )
            await terminate(pool, pid)
            # Written while nobody listened: not heard, so the page is told to refresh.
            await factory.notify("customer", customer_id, "while the connection was down")
            assert await asyncio.wait_for(queue.get(), BACK_WITHIN + 1) == RESUMED
            await factory.notify("customer", customer_id, "after it came back")
            heard = await asyncio.wait_for(queue.get(), 5)
            assert heard.event_type == "disassociation.requested"
    finally:
        await hub.close()


async def test_the_relays_wake_up_comes_back(postgres_server_url, task_queue):
    """On a database of its own, so the relay delivers nothing of other tests'."""
    async with fresh_database(postgres_server_url, "assocflow_relay") as url:
        own = await open_pool(url, max_size=3)
        relay = WebhookRelay(own, make_settings(url, task_queue))
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            channel = webhook_store.CHANNEL
            first = await until(
                lambda: listening_pid(own, channel), BACK_WITHIN, "the relay's LISTEN"
            )
            await terminate(own, first)

            async def listening_anew():
                pid = await listening_pid(own, channel)
                return pid if pid not in (None, first) else None

            await until(listening_anew, BACK_WITHIN, "the relay's LISTEN again")
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(running, 10)
            await own.close()


async def test_a_pool_never_hands_out_a_connection_postgres_ended(database_url, pool):
    """An idle-session timeout or an operator's pg_terminate_backend ends connections one by one,
    as a restart ends them all: the next caller gets a working one all the same."""
    own = await open_pool(database_url, min_size=3, max_size=3)
    try:
        held = [await own.getconn() for _ in range(3)]
        pids = []
        for conn in held:
            cur = await conn.execute("SELECT pg_backend_pid()")
            pids.append((await cur.fetchone())[0])
            await own.putconn(conn)
        for pid in pids:
            await terminate(pool, pid)
        for _ in range(6):
            async with own.connection() as conn:
                cur = await conn.execute("SELECT pg_backend_pid()")
                assert (await cur.fetchone())[0] not in pids
    finally:
        await own.close()
