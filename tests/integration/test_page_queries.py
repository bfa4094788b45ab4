"""What every console page (its session, with the unread count) and a request's page read about notifications is served by an index:
an account's message history grows without end, and a page must not read all of it (bench pages
found a request's page scanning every notification, and every page counting every unread one)."""

from __future__ import annotations

import uuid
from typing import Any

from store import overview, sessions
from store.scope import Scope


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
    plan = await _plan(pool, sessions.FIND, (100, sessions.token_hash("a session's token")))
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
