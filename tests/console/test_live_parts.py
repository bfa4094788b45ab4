"""Every part of an open console page that can change follows the page's event stream, without a
reload: a request page's status, timeline and decide buttons; a records tab's row of a pending
request (its status and Operation); the Incoming customers and Customer Management lists (a row's
status, pending request and Operation); and the unread badge, which misses no event that comes
while it is being refreshed (templates/_live.html: the element that listens is never swapped).

Each test marks the page's document when it opens and finds the mark still there at the end:
what changed came into the page that was open, not with a new one."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Page, Route, expect

from tests.console.people import PeopleWorld, Person, sign_in
from tests.factories import bearer

pytestmark = pytest.mark.devserver

LIVE_WITHIN_MS = 15_000  # SSE delivers at once; this is the bound, not the expectation
HELD_WITHIN = 15.0  # seconds: how soon the badge's refresh comes to be held

# What the page heard on its stream, as attributes of <html> (`data-heard-ready`, ...: how many
# of each), and how often it refreshed its badge (`data-badge-refreshes`): the console's
# Content-Security-Policy allows no eval, which Playwright's wait_for_function would need. One
# message is heard by every part that follows it: counted once.
COUNT_HEARD = """
(function () {
  var seen = new WeakSet();
  var counts = {};
  function mark(name, value) { document.documentElement.setAttribute(name, String(value)); }
  document.addEventListener("htmx:sseMessage", function (event) {
    var message = event.detail;
    if (!message || !message.type || seen.has(message)) return;
    seen.add(message);
    counts[message.type] = (counts[message.type] || 0) + 1;
    mark("data-heard-" + message.type, counts[message.type]);
  });
  var badge = 0;
  document.addEventListener("htmx:afterRequest", function (event) {
    var path = event.detail && event.detail.pathInfo && event.detail.pathInfo.requestPath;
    if (path === "/console/messages/badge") mark("data-badge-refreshes", ++badge);
  });
})();
"""
# htmx's classes on what it is still swapping in or settling (a part swapped whole listens again
# only once settled).
SWAPPING = ".htmx-swapping, .htmx-settling, .htmx-added"


@pytest.fixture
async def api(console_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console_server, timeout=30) as client:
        yield client


async def open_page(page: Page, person: Person, path: str) -> None:
    """`path`, signed in as `person`, once its stream listens (its `ready` came), its document
    marked."""
    await page.add_init_script(COUNT_HEARD)
    await sign_in(page, person)
    await page.goto(path)
    await expect(page.locator("html")).to_have_attribute("data-heard-ready", re.compile(r"\d"))
    await page.evaluate("document.documentElement.dataset.sameDocument = 'yes'")


async def still_the_same_document(page: Page) -> None:
    await expect(page.locator("html")).to_have_attribute("data-same-document", "yes")


async def act(
    api: httpx.AsyncClient, person: Person, path: str, body: dict[str, object] | None = None
) -> dict[str, object]:
    """A request or decision of `person`'s through the API (not through the open page)."""
    answer = await api.post(path, json=body, headers=bearer(person.token))
    assert answer.status_code in (200, 201), answer.text
    found: dict[str, object] = answer.json()
    return found


async def asked(api: httpx.AsyncClient, world: PeopleWorld, collection: str, **more: str) -> UUID:
    """The customer's request of `collection` ("disassociations", "type-changes") on the
    world's association."""
    body = {"association_id": str(world.association_id), "reason": "Asked by the test"}
    found = await act(
        api, world.customer_person, f"/v1/{collection}", {**body, **more, "acknowledged": True}
    )
    return UUID(str(found["id"]))


async def test_a_request_page_shows_the_rejection_in_its_status_and_timeline_at_once(
    page: Page, people, api: httpx.AsyncClient
) -> None:
    world = await people.world()
    request_id = await people.pending_request(world, initiator="partner")
    await open_page(page, world.partner_admin, f"/console/requests/{request_id}")
    status = page.locator(".request-live .status")
    steps = page.locator(".timeline li")
    await expect(status).to_have_text("Awaiting response")
    await expect(steps).to_have_count(1)
    await expect(page.get_by_role("button", name="Withdraw")).to_be_visible()

    await act(
        api,
        world.customer_person,
        f"/v1/disassociations/{request_id}/reject",
        {"reason": "We still need your support"},
    )
    await expect(status).to_have_text("Rejected", timeout=LIVE_WITHIN_MS)
    await expect(steps).to_have_count(2, timeout=LIVE_WITHIN_MS)
    await expect(steps.last).to_contain_text("Rejected")
    await expect(page.get_by_role("button", name="Withdraw")).to_have_count(0)
    await expect(page.locator("#live")).to_have_text("The request is now: Rejected")
    await still_the_same_document(page)


@pytest.mark.parametrize(
    ("tab", "collection", "more"),
    [
        ("disassociations", "disassociations", {}),
        ("type_changes", "type-changes", {"new_type": "referral"}),
    ],
)
async def test_a_records_row_loses_its_answers_when_its_request_is_withdrawn(
    page: Page, people, api: httpx.AsyncClient, tab: str, collection: str, more: dict[str, str]
) -> None:
    world = await people.world()  # a resale association
    request_id = await asked(api, world, collection, **more)
    await open_page(page, world.partner_admin, f"/console/records?tab={tab}")
    row = page.get_by_role("row", name=re.compile(world.customer_name))
    await expect(row.get_by_role("button", name="Agree")).to_be_visible()
    await expect(row.get_by_role("button", name="Reject")).to_be_visible()

    await act(api, world.customer_person, f"/v1/{collection}/{request_id}/withdraw")
    await expect(row.get_by_role("button", name="Agree")).to_have_count(0, timeout=LIVE_WITHIN_MS)
    await expect(row.get_by_role("button", name="Reject")).to_have_count(0)
    await expect(row.get_by_role("link", name=re.compile("^View"))).to_be_visible()
    await expect(row).to_contain_text("Withdrawn")
    await still_the_same_document(page)


async def test_an_incoming_customers_row_loses_accept_and_decline_when_the_partner_rejects(
    page: Page, people, factory, api: httpx.AsyncClient
) -> None:
    world = await people.world()
    new_partner = await factory.partner()
    new_partner_admin = await people.partner_person(new_partner, ["admin"])
    moving = await act(api, world.customer_person, "/v1/partner-changes", {
        "association_id": str(world.association_id), "new_partner_id": str(new_partner),
        "reason": "Our new reseller covers our region", "acknowledged": True,
    })  # fmt: skip
    await open_page(page, new_partner_admin, "/console/incoming-customers")
    row = page.get_by_role("row", name=re.compile(world.customer_name))
    await expect(row.get_by_role("button", name="Accept")).to_be_visible()
    await expect(row.get_by_role("button", name="Decline")).to_be_visible()

    await act(
        api,
        world.partner_admin,
        f"/v1/partner-changes/{moving['id']}/reject",
        {"reason": "The contract runs until next year"},
    )
    await expect(row.get_by_role("button", name="Accept")).to_have_count(0, timeout=LIVE_WITHIN_MS)
    await expect(row.get_by_role("button", name="Decline")).to_have_count(0)
    await expect(row.get_by_role("link", name=re.compile("^View"))).to_be_visible()
    await expect(row).to_contain_text("Rejected")
    await still_the_same_document(page)


async def test_a_customer_management_row_follows_a_request_asked_and_agreed(
    page: Page, people, api: httpx.AsyncClient
) -> None:
    world = await people.world()
    await open_page(page, world.partner_admin, "/console/customers?status=all")
    row = page.get_by_role("row", name=re.compile(world.customer_name))
    more = row.locator("summary")
    await more.click()  # the row's menu open, and focused, while the customer asks
    await expect(row.get_by_role("link", name="Disassociate")).to_be_visible()

    request_id = await asked(api, world, "disassociations")
    awaiting = row.get_by_role("link", name="Awaiting your response")
    await expect(awaiting).to_be_visible(timeout=LIVE_WITHIN_MS)  # a new one appears
    await expect(row.locator("details.menu")).to_have_attribute("open", "")  # kept open
    await expect(more).to_be_focused()  # and focused

    await act(api, world.partner_admin, f"/v1/disassociations/{request_id}/agree")
    await expect(row).to_contain_text("Ended", timeout=LIVE_WITHIN_MS)
    await expect(row.locator("summary")).to_have_count(0)  # no Change type, no Disassociate
    await expect(awaiting).to_have_count(0)
    await still_the_same_document(page)


async def test_the_badge_misses_no_notification_that_comes_while_it_is_refreshed(
    page: Page, people, factory
) -> None:
    partner = await factory.partner()
    person = await people.partner_person(partner, ["admin"])
    held: asyncio.Queue[Route] = asyncio.Queue()
    holding = {"next": False}

    async def badge(route: Route) -> None:
        """The refresh the first notification asks for is held; every other one goes."""
        if holding["next"]:
            holding["next"] = False
            await held.put(route)
        else:
            await route.continue_()

    await page.route(re.compile(r"/console/messages/badge"), badge)
    await open_page(page, person, "/console/records")
    # The refresh the stream's `ready` asked for is in, and settled.
    await expect(page.locator("html")).to_have_attribute("data-badge-refreshes", "1")
    await expect(page.locator(SWAPPING)).to_have_count(0)
    count = page.locator("#unread-badge [aria-hidden=true]")

    holding["next"] = True
    await factory.notify("partner", partner, "the first")
    refresh = await asyncio.wait_for(held.get(), HELD_WITHIN)
    first = await refresh.fetch()  # the server's answer to it: one unread
    # The second notification comes while the badge is being refreshed for the first.
    await factory.notify("partner", partner, "the second")
    await expect(page.locator("html")).to_have_attribute("data-heard-notification", "2")
    await refresh.fulfill(response=first)
    await expect(count).to_have_text("2", timeout=LIVE_WITHIN_MS)
    await still_the_same_document(page)
