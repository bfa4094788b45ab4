"""An open console page keeps its live updates through a PostgreSQL restart: the server behind it
listens again by itself, and the page refreshes what was written while nobody listened.

On a PostgreSQL server of its own (the session's is shared by every other test), with the
console served over real HTTP and a partner's person signed in with Chromium.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from application.services import Services
from devstack import services
from store.accounts import PostgresStanding
from store.db import migrate, open_pool
from tests.console.browser import DESKTOP, js_errors
from tests.console.conftest import _Server
from tests.console.people import People, sign_in
from tests.factories import Factory
from workflows.gateway import Gateway

# The server listens again 2 s after losing its connection; the rest is the page's own round trip.
LIVE_WITHIN_MS = 10_000
# Counts the badge's refreshes (the requests of its live region, templates/_live.html, swapped
# in or not: one that shows what is shown is not), so the test writes only once the refresh the
# stream's `ready` asked for is in.
# htmx's classes on an element it is still swapping in or settling.
SWAPPING = re.compile(r"htmx-(swapping|settling|added)")
COUNT_BADGE_REFRESHES = """
window.badgeRefreshes = 0;
document.addEventListener("htmx:afterRequest", function (event) {
  if (event.detail.elt && event.detail.elt.id === "unread-live") {
    window.badgeRefreshes += 1;
    document.documentElement.dataset.badgeRefreshes = String(window.badgeRefreshes);
  }
});
"""


@pytest.fixture
async def own_stack(tmp_path, console_settings, dev_env, clock) -> AsyncIterator[dict[str, Any]]:
    """A PostgreSQL server, a migrated database, and the console app serving it."""
    server = services.embedded_postgres(tmp_path / "pg", keep=False)
    url = services.ensure_database(server.get_uri(), "assocflow")
    await migrate(url)
    settings = console_settings.model_copy(update={"database_url": url})
    pool = await open_pool(url, max_size=4)
    app = _Server(settings)
    await app.start()
    svc = Services(
        pool, Gateway(dev_env.client, settings.task_queue), settings, PostgresStanding(pool)
    )
    try:
        yield {
            "server": server,
            "url": app.url,
            "pool": pool,
            "factory": Factory(pool),
            "people": People(Factory(pool), svc, clock, app.url),
        }
    finally:
        await app.stop()
        await pool.close()


async def test_an_open_page_keeps_its_live_updates_through_a_postgres_restart(
    browser: Browser, own_stack
) -> None:
    partner = await own_stack["factory"].partner()
    person = await own_stack["people"].partner_person(partner, ["admin"])
    context = await browser.new_context(viewport=DESKTOP, base_url=own_stack["url"])
    await context.add_init_script(COUNT_BADGE_REFRESHES)
    page: Page = await context.new_page()
    errors = js_errors(page)
    try:
        await sign_in(page, person)
        await page.goto("/console/records")
        # The stream's `ready` refresh (an attribute, not wait_for_function: the console's CSP
        # allows no eval, which Playwright's waiting would need).
        await expect(page.locator("html")).to_have_attribute(
            "data-badge-refreshes", re.compile(r"\d")
        )
        await page.evaluate("window.sameDocument = true")

        async def badge_shows(unread: str) -> None:
            """Until the badge shows `unread` and has settled."""
            badge = page.locator("#unread-badge")
            await expect(badge.locator("[aria-hidden=true]")).to_have_text(
                unread, timeout=LIVE_WITHIN_MS
            )
            await expect(badge).not_to_have_class(SWAPPING, timeout=LIVE_WITHIN_MS)

        await own_stack["factory"].notify("partner", partner, "before the restart")
        await badge_shows("1")

        for mode, unread in (("fast", "2"), ("immediate", "3")):
            services.restart_postgres(own_stack["server"], mode)
            # Written at once, before the server has listened again: the page hears of it all
            # the same.
            await own_stack["factory"].notify("partner", partner, f"right after a {mode} restart")
            await badge_shows(unread)

        await own_stack["factory"].notify("partner", partner, "afterwards")
        await badge_shows("4")
        # Nobody reloaded the page: it is the one that was open before the restarts.
        assert await page.evaluate("window.sameDocument === true")
        errors.check()
    finally:
        await context.close()
