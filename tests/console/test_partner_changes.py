"""Partner changes in the console (SPEC v3), in a real browser, with all three parties: the
customer's "Change partner" on My partner (the new partner's id first, the check, the
acknowledgement, the reason, Confirm); the new partner's "Incoming customers" with Accept (choosing
the association type) and Decline; the current partner's Agree / Reject in the Partner changes
tab and on the request page; each open page brought up to date without a reload."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.console.browser import MOBILE, assert_accessible, screenshot
from tests.console.people import PeopleWorld, Person, sign_in
from tests.factories import bearer
from tests.mfa import Clock

pytestmark = pytest.mark.devserver

LIVE_WITHIN_MS = 15_000  # SSE delivers at once; this is the bound, not the expectation
ACKNOWLEDGEMENT = "I understand the preceding statement and confirm to change partner"


@dataclass
class NewPartner:
    id: UUID
    name: str
    admin: Person


@pytest.fixture
async def api(console_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console_server, timeout=30) as client:
        yield client


async def a_new_partner(people, factory, *, enrolled: bool = False) -> NewPartner:
    """Another reseller, with an admin who signs in (and an authenticator, when `enrolled`)."""
    if enrolled:
        admin = await people.partner_admin(enrolled=True)
        [row] = await factory.fetch(
            "SELECT p.id, p.name FROM partners p JOIN partner_users u ON u.partner_id = p.id"
            " WHERE u.id = %s",
            admin.id,
        )
    else:
        partner = await factory.partner()
        admin = await people.partner_person(partner, ["admin"])
        [row] = await factory.fetch("SELECT id, name FROM partners WHERE id = %s", partner)
    return NewPartner(row["id"], row["name"], admin)


async def ask_to_move(
    api: httpx.AsyncClient, world: PeopleWorld, new_partner: NewPartner, reason: str
) -> UUID:
    """The customer's request, through the API (the console's own flow is the first test's)."""
    submitted = await api.post(
        "/v1/partner-changes",
        json={
            "association_id": str(world.association_id),
            "new_partner_id": str(new_partner.id),
            "reason": reason,
            "acknowledged": True,
        },
        headers=bearer(world.customer_person.token),
    )
    assert submitted.status_code == 201, submitted.text
    return UUID(submitted.json()["id"])


async def test_a_customer_moves_to_a_new_partner_that_accepts_and_the_current_partner_agrees(
    new_page, people, factory
) -> None:
    world = await people.world()  # a resale association
    new_partner = await a_new_partner(people, factory)

    # The customer asks, from My partner: the new partner's id first.
    customer_page: Page = await new_page()
    await sign_in(customer_page, world.customer_person)
    await customer_page.get_by_role("link", name="Change partner").click()
    await expect(customer_page.get_by_role("heading", name="Account check")).to_be_visible()
    await customer_page.get_by_role("button", name="Check the account").click()  # none given
    await expect(customer_page.locator("#new_partner_id-error")).to_contain_text(
        "Enter the new partner's ID"
    )
    await customer_page.get_by_label("New partner ID").fill("partner-42")
    async with customer_page.expect_response(re.compile(r"/change-partner\?")) as answer:
        await customer_page.get_by_role("button", name="Check the account").click()
    assert (await answer.value).status == 422  # words beside the field, not an error page
    await expect(customer_page.locator("#new_partner_id-error")).to_contain_text(
        "A partner ID looks like"
    )
    await expect(customer_page.get_by_label("New partner ID")).to_have_value("partner-42")
    await expect(customer_page.get_by_label("New partner ID")).to_have_attribute(
        "aria-invalid", "true"
    )
    # An id no partner has: the check's item says what to do, and there is no going on.
    await customer_page.get_by_label("New partner ID").fill(str(uuid.uuid4()))
    await customer_page.get_by_role("button", name="Check the account").click()
    failed = customer_page.locator("[data-item=new_partner_accepts_customers]")
    await expect(failed).to_have_class("failed")
    await expect(failed).to_contain_text("No partner has this id")
    await expect(customer_page.get_by_label(ACKNOWLEDGEMENT)).to_have_count(0)
    await assert_accessible(customer_page)
    await screenshot(customer_page, "partner-change-check-failed")

    await customer_page.get_by_label("New partner ID").fill(str(new_partner.id))
    await customer_page.get_by_role("button", name="Check again").click()
    await expect(customer_page.get_by_text("The account passed the check.")).to_be_visible()
    await expect(failed).to_have_class("passed")
    await expect(customer_page.locator("#statement")).to_contain_text(new_partner.name)
    await customer_page.get_by_role("button", name="Change partner").click()
    await expect(customer_page.locator("#acknowledged-error")).to_be_visible()  # not ticked yet
    await customer_page.get_by_label(ACKNOWLEDGEMENT).check()
    await assert_accessible(customer_page)
    await screenshot(customer_page, "partner-change-check")
    await customer_page.get_by_role("button", name="Change partner").click()

    dialog = customer_page.get_by_role("dialog", name="Change partner")
    await expect(dialog).to_contain_text(new_partner.name)
    await customer_page.get_by_role("button", name="Confirm").click()  # no reason yet
    await expect(customer_page.locator("#reason-error")).to_have_text(re.compile("Enter a reason"))
    await customer_page.get_by_label("Reason").fill("Our new reseller covers our region")
    await assert_accessible(customer_page)
    await screenshot(customer_page, "partner-change-dialog")
    await customer_page.get_by_role("button", name="Confirm").click()
    await expect(customer_page.get_by_text("The request has been submitted")).to_be_visible()
    await expect(
        customer_page.get_by_role("heading", name="Partner change request")
    ).to_be_visible()
    await expect(customer_page.locator(".move")).to_have_text(
        re.compile(f"{world.partner_name}.+{new_partner.name}")
    )
    await expect(customer_page.locator(".request-live .status")).to_have_text("Awaiting response")
    await expect(customer_page.locator(".consent[data-answer=none]")).to_have_count(2)
    await expect(customer_page.get_by_role("button", name="Withdraw")).to_be_visible()
    await assert_accessible(customer_page)
    await screenshot(customer_page, "partner-change-submitted")

    # The new partner accepts from Incoming customers, choosing the type.
    new_partner_page: Page = await new_page()
    await sign_in(new_partner_page, new_partner.admin)
    await new_partner_page.get_by_role("link", name="Incoming customers").click()
    row = new_partner_page.get_by_role("row", name=re.compile(world.customer_name))
    await expect(row).to_contain_text(str(world.customer_id))
    await expect(row).to_contain_text("Our new reseller covers our region")
    await expect(row.get_by_role("button", name="Decline")).to_be_visible()
    await assert_accessible(new_partner_page)
    await screenshot(new_partner_page, "incoming-customers")
    await row.get_by_role("button", name="Accept").click()
    await expect(new_partner_page.get_by_role("dialog", name="Accept")).to_be_visible()
    chosen = new_partner_page.get_by_label("Association type")
    await expect(chosen).to_have_value("resale")  # the current type, unless another is chosen
    await chosen.select_option("advance_payment")
    await assert_accessible(new_partner_page)
    await screenshot(new_partner_page, "partner-change-accept")
    await new_partner_page.get_by_role("button", name="Accept").click()
    await expect(new_partner_page.get_by_text("You accepted.")).to_be_visible()
    accepted = new_partner_page.locator(".consent[data-party=new_partner]")
    await expect(accepted).to_have_attribute("data-answer", "accept")
    await expect(accepted).to_contain_text("Advance payment")
    await expect(new_partner_page.get_by_role("button", name="Accept")).to_have_count(0)
    # The customer's open request page hears of it.
    await expect(customer_page.locator(".consent[data-party=new_partner]")).to_have_attribute(
        "data-answer", "accept", timeout=LIVE_WITHIN_MS
    )

    # The current partner agrees in its records' Partner changes tab.
    partner_page: Page = await new_page()
    await sign_in(partner_page, world.partner_admin)
    await partner_page.get_by_role("link", name="Association records").first.click()
    await partner_page.get_by_role("link", name="Partner changes").click()
    asked = partner_page.get_by_role("row", name=re.compile(world.customer_name))
    await expect(asked).to_contain_text(new_partner.name)
    await expect(asked).to_contain_text("Accepted")
    await assert_accessible(partner_page)
    await screenshot(partner_page, "records-partner-changes")
    await asked.get_by_role("button", name="Agree").click()
    await expect(
        partner_page.get_by_text(f"You agreed. {world.customer_name} has moved to")
    ).to_be_visible()
    await expect(partner_page.locator(".request-live .status")).to_have_text(
        "Completed: the customer moved"
    )

    # Every open page shows it without a reload; the customer's partner is the new one.
    await expect(customer_page.locator(".request-live .status")).to_have_text(
        "Completed: the customer moved", timeout=LIVE_WITHIN_MS
    )
    await expect(new_partner_page.locator(".request-live .status")).to_have_text(
        "Completed: the customer moved", timeout=LIVE_WITHIN_MS
    )
    await expect(customer_page.locator(".moved")).to_contain_text(new_partner.name)
    await screenshot(customer_page, "partner-change-completed")
    await customer_page.get_by_role("link", name="My partner").click()
    await expect(customer_page.locator("#partner-name")).to_have_text(new_partner.name)
    await expect(customer_page.locator("dl.facts")).to_contain_text("Advance payment")
    await expect(
        customer_page.get_by_text(re.compile(f"{world.partner_name} — ended"))
    ).to_be_visible()
    # The customer is the new partner's now, and no longer the old one's.
    await new_partner_page.get_by_role("link", name="Customer Management").click()
    await expect(
        new_partner_page.get_by_role("row", name=re.compile(world.customer_name))
    ).to_be_visible()
    await partner_page.goto("/console/customers")
    await expect(
        partner_page.get_by_role("row", name=re.compile(world.customer_name))
    ).to_have_count(0)


async def test_the_current_partner_rejects_on_the_request_page_and_the_new_partner_never_reads_why(
    new_page, people, factory, api: httpx.AsyncClient
) -> None:
    world = await people.world()
    new_partner = await a_new_partner(people, factory)
    request_id = await ask_to_move(api, world, new_partner, "Closer support in our time zone")
    why = "Our contract runs until next year"

    # The new partner has the request open, from Incoming customers.
    new_partner_page: Page = await new_page()
    await sign_in(new_partner_page, new_partner.admin)
    await new_partner_page.get_by_role("link", name="Incoming customers").click()
    await new_partner_page.get_by_role("link", name=world.customer_name).click()
    await expect(
        new_partner_page.get_by_role("heading", name="Partner change request")
    ).to_be_visible()
    await expect(new_partner_page.get_by_role("button", name="Accept")).to_be_visible()
    await expect(new_partner_page.get_by_role("button", name="Agree")).to_have_count(0)

    # The current partner rejects on the request page, with its reason.
    partner_page: Page = await new_page()
    await sign_in(partner_page, world.partner_admin)
    customers_row = partner_page.get_by_role("row", name=re.compile(world.customer_name))
    await expect(customers_row).to_contain_text("Partner change")
    await customers_row.get_by_role("link", name="Awaiting your response").click()
    await expect(partner_page.get_by_role("heading", name="Partner change request")).to_be_visible()
    await expect(partner_page.get_by_role("button", name="Accept")).to_have_count(0)
    await partner_page.get_by_role("button", name="Reject").click()
    await partner_page.get_by_role("button", name="Reject").click()  # no reason yet
    await expect(partner_page.locator("#reason-error")).to_be_visible()
    await partner_page.get_by_label("Reason").fill(why)
    await partner_page.get_by_role("button", name="Reject").click()
    await expect(partner_page.get_by_text("You rejected the request.")).to_be_visible()
    await expect(partner_page.locator(".consent[data-party=partner]")).to_contain_text(why)

    # The new partner's open page hears of it, and reads the answer but not its reason.
    await expect(new_partner_page.locator(".request-live .status")).to_have_text(
        "Rejected", timeout=LIVE_WITHIN_MS
    )
    rejected = new_partner_page.locator(".consent[data-party=partner]")
    await expect(rejected).to_have_attribute("data-answer", "reject")
    await expect(new_partner_page.get_by_role("button", name="Accept")).to_have_count(0)
    await expect(new_partner_page.locator("main")).not_to_contain_text(why)
    await new_partner_page.reload()
    await expect(new_partner_page.locator("main")).to_contain_text("by the current partner")
    await expect(new_partner_page.locator("main")).not_to_contain_text(why)
    await assert_accessible(new_partner_page)
    await new_partner_page.get_by_role("link", name="Association records").click()
    await new_partner_page.get_by_role("link", name="Partner changes").click()
    await expect(new_partner_page.locator("main")).not_to_contain_text(why)

    # The customer reads why, and stays with its partner.
    customer_page: Page = await new_page()
    await sign_in(customer_page, world.customer_person)
    await expect(customer_page.locator("#partner-name")).to_have_text(world.partner_name)
    await customer_page.goto(f"/console/requests/{request_id}")
    await expect(customer_page.locator(".consent[data-party=partner]")).to_contain_text(why)
    await expect(customer_page.locator(".request-live .status")).to_have_text("Rejected")


async def test_the_new_partner_declines_with_its_verification_code(
    new_page, people, factory, api: httpx.AsyncClient, clock: Clock
) -> None:
    world = await people.world()
    new_partner = await a_new_partner(people, factory, enrolled=True)
    required = await api.patch(
        "/v1/settings",
        json={"verification_required": True},
        headers=bearer(new_partner.admin.token),
    )
    assert required.status_code == 200, required.text
    await ask_to_move(api, world, new_partner, "One invoice for all our accounts")
    app = new_partner.admin.app
    assert app is not None

    page: Page = await new_page()
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(new_partner.admin.email)
    await page.get_by_label("Password").fill(new_partner.admin.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label("Verification code").fill(app.code(clock.at))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Customer Management")).to_be_visible()
    clock.tick()  # the next code is a fresh one

    await page.get_by_role("link", name="Incoming customers").click()
    row = page.get_by_role("row", name=re.compile(world.customer_name))
    await row.get_by_role("button", name="Decline").click()
    dialog = page.get_by_role("dialog", name="Decline")
    await expect(dialog).to_contain_text(f"stays with {world.partner_name}")
    await page.get_by_role("button", name="Decline").click()  # neither reason nor code
    await expect(page.locator("#reason-error")).to_be_visible()
    await expect(page.locator("#verification_code-error")).to_be_visible()
    await page.get_by_label("Reason").fill("We do not serve this region")
    await page.get_by_label("Verification code").fill("000000")
    await page.get_by_role("button", name="Decline").click()
    await expect(page.locator("#verification_code-error")).to_contain_text("not right")
    await expect(page.get_by_label("Reason")).to_have_value("We do not serve this region")
    await assert_accessible(page)
    await page.get_by_label("Verification code").fill(app.code(clock.at))
    await page.get_by_role("button", name="Decline").click()
    await expect(page.get_by_text("You declined.")).to_be_visible()
    await expect(page.locator(".request-live .status")).to_have_text("Declined by the new partner")

    await (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Incoming customers")
        .click()
    )
    settled = page.get_by_role("row", name=re.compile(world.customer_name))
    await expect(settled).to_contain_text("Declined by the new partner")
    await expect(settled.get_by_role("button")).to_have_count(0)
    partner_page: Page = await new_page()
    await sign_in(partner_page, world.partner_admin)
    await expect(
        partner_page.get_by_role("row", name=re.compile(world.customer_name))
    ).to_contain_text("Active")


async def test_the_partner_change_pages_are_accessible_and_fit_a_phone(
    new_page, people, factory, api: httpx.AsyncClient
) -> None:
    world = await people.world()
    new_partner = await a_new_partner(people, factory)
    request_id = await ask_to_move(api, world, new_partner, "A partner nearer to us")
    who_sees_what = [
        (
            world.customer_person,
            [
                "/console/partner",
                f"/console/associations/{world.association_id}/change-partner",
                f"/console/associations/{world.association_id}/change-partner?new_partner_id=x",
                f"/console/associations/{world.association_id}/change-partner"
                f"?new_partner_id={new_partner.id}",
                f"/console/requests/{request_id}",
                "/console/records?tab=partner_changes",
            ],
        ),
        (
            new_partner.admin,
            [
                "/console/incoming-customers",
                f"/console/requests/{request_id}",
                f"/console/requests/{request_id}/accept",
                f"/console/requests/{request_id}/decline",
            ],
        ),
        (
            world.partner_admin,
            [
                f"/console/requests/{request_id}",
                f"/console/requests/{request_id}/reject",
            ],
        ),
    ]
    pages: list[Page] = []
    for person, paths in who_sees_what:
        page: Page = await new_page(viewport=MOBILE, is_mobile=True)
        pages.append(page)
        await sign_in(page, person)
        for path in paths:
            await page.goto(path)
            await assert_accessible(page)
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} is wider than the screen by {overflow}px"
    customer_page, _, partner_page = pages
    # A customer has no incoming customers; a partner does not ask to change partner.
    answer = await customer_page.goto("/console/incoming-customers")
    assert answer is not None and answer.status == 404
    answer = await partner_page.goto(f"/console/associations/{world.association_id}/change-partner")
    assert answer is not None and answer.status == 403
