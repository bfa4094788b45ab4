"""What every console page (its session, with the unread count) and a request's page read about notifications is served by an index:
an account's message history grows without end, and a page must not read all of it (bench pages
found a request's page scanning every notification, and every page counting every unread one);
and what every page reads is planned once per connection, not at every call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bench import pages as bench_pages
from bench import records as bench_records
from store import db, overview, sessions
from store.scope import Scope
from tests.conftest import fresh_database


async def _plan(pool, query: str, params: Any) -> str:
    async with pool.connection() as conn, conn.transaction():
        # As on a table far too big to scan: on a test's few rows PostgreSQL would rightly scan.
        await conn.execute("SET LOCAL enable_seqscan = off")
        cur = await conn.execute(f"EXPLAIN {query}", params)
        rows = await cur.fetchall()
    return "\n".join(row[0] for row in rows)


async def test_a_requests_reminders_are_read_by_the_request(pool):
    plan = await _plan(pool, overview.REMINDERS, (uuid.uuid4(),))
    assert "notifications_reminders" in plan, plan


async def test_the_unread_badge_reads_no_more_than_it_counts(pool):
    plan = await _plan(pool, sessions.find_query(100), (sessions.token_hash("a session's token"),))
    assert "notifications_unread" in plan and "Limit" in plan, plan


async def test_customer_management_searches_names_by_their_trigrams_and_ids_by_their_index(pool):
    scope = Scope(partner_ids=(uuid.uuid4(),))
    by_name = overview.associations_query(scope, "contoso", "active", 20, None)
    plan = await _plan(pool, *by_name)
    # The names by their trigrams first (which index then reads the associations of those
    # customers, the partner's or the customers', depends on the tables' numbers).
    assert "Bitmap Index Scan on customers_name_trigrams" in plan, plan
    assert "Seq Scan" not in plan, plan
    by_id = overview.associations_query(scope, str(uuid.uuid4()).upper(), "active", 20, None)
    plan = await _plan(pool, *by_id)
    assert "~~*" not in plan and "customer_id)::text" not in plan and "Seq Scan" not in plan, plan


# What the pages read at every call that PostgreSQL plans once per connection, each by words
# of its statement. (A records tab's and a partner's requests are planned for each call's values
# whichever way their LIMIT is written, the partner's share of the rows deciding; bench/pages.py
# measured no difference.)
PLANNED_ONCE = {
    "the session, with the unread count (every page)": "FROM console_sessions",
    "Customer Management": "FROM associations a",
}


@pytest.fixture(scope="module")
async def at_scale(postgres_server_url: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A database of its own with enough rows that a plan's estimates matter: the pages
    benchmark's partner (bench/records.py, bench/pages.py), smaller."""
    async with fresh_database(postgres_server_url, "assocflow_plans") as url:
        data = await bench_records.fill(url, 50_000, 5_000)
        named = await bench_pages.fill(url, data, requests_each=10_000, notifications=50_000)
        yield url, {**data, "session": named["cookie"]["Cookie"].partition("=")[2]}


async def test_what_every_page_reads_is_planned_once_per_connection_not_at_every_call(at_scale):
    """A statement whose one plan PostgreSQL finds dearer than a plan for each call's values is
    planned at every call: 0.3 ms of every page's time for the session's query alone, when the
    unread count's LIMIT was a parameter (store/sessions.py `find_query`). Customer Management's
    LIMIT stays a parameter: written in, its plan for each call's values was dearer still."""
    url, data = at_scale
    scope = Scope(partner_ids=(data["partner_id"],))
    calls = 15  # psycopg prepares a statement at its 6th call on a connection
    async with await db.dedicated_connection(url) as conn:  # these statements only
        for _ in range(calls):
            assert await sessions.find(conn, data["session"], unread_up_to=100) is not None
            await overview.associations(
                conn, scope, search=None, status="active", limit=20, cursor=None
            )
        cur = await conn.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
        prepared = await cur.fetchall()
    for page, words in PLANNED_ONCE.items():
        found = [(generic, custom) for statement, generic, custom in prepared if words in statement]
        assert len(found) == 1, (page, prepared)
        generic, custom = found[0]
        # PostgreSQL plans for the values five times before it weighs one plan for all.
        assert custom <= 5 and generic == calls - 5 - custom, (page, generic, custom)
