"""The console in a real browser: the people of partners and customers sign in and click through
the source document's screens — Customer Management, the Disassociate flow, Manage Association
Records with Agree and Reject — and see the other side's decision arrive without a reload."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.console.browser import assert_accessible, screenshot
from tests.console.people import Person, sign_in
from tests.mfa import Authenticator

pytestmark = pytest.mark.devserver

LIVE_WITHIN_MS = 15_000  # SSE delivers at once; this is the bound, not the expectation


async def test_sign_in_with_a_password_and_the_authenticators_code(
    page: Page, people, clock
) -> None:
    person: Person = await people.partner_admin(enrolled=True)
    await page.goto("/console/")
    await expect(page).to_have_url(re.compile(r"/console/sign-in"))
    await assert_accessible(page)
    await screenshot(page, "sign-in")

    await page.get_by_label("Email").fill(person.email)
    await page.get_by_label("Password").fill("not the password at all")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#password-error")).to_have_text(re.compile("not right"))
    await expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")

    await page.get_by_label("Password").fill(person.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Verification code")).to_be_visible()
    await page.get_by_label("Verification code").fill("000000")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#verification_code-error")).to_be_visible()
    assert person.app is not None
    await page.get_by_label("Verification code").fill(person.app.code(clock.at))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Customer Management")).to_be_visible()
    await assert_accessible(page)

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.goto("/console/customers")
    await expect(page).to_have_url(re.compile(r"/console/sign-in"))


async def test_an_invited_person_sets_a_password_and_sets_up_an_authenticator(
    page: Page, operator: httpx.AsyncClient, factory, clock
) -> None:
    partner = await factory.partner()
    person_id, _ = await factory.user(partner, ["admin"])
    invited = await operator.post(f"/v1/admin/people/{person_id}/invitation")
    assert invited.status_code == 201, invited.text
    link = urlsplit(invited.json()["url"]).path
    await page.goto(link)
    await expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()
    await assert_accessible(page)
    await page.get_by_label("Password", exact=True).fill("short")
    await page.get_by_label("Password again").fill("short")
    await page.get_by_role("button", name="Set password").click()
    await expect(page.locator("#password-error")).to_be_visible()
    password = "a long enough passphrase"
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_label("Password again").fill(password)
    await page.get_by_role("button", name="Set password").click()
    await expect(page.get_by_text("Your password is set.")).to_be_visible()
    await page.get_by_role("button", name="Set up an authenticator app").click()
    await expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    await assert_accessible(page)
    await screenshot(page, "mfa-enrolment")
    await page.get_by_text("Cannot scan it?").click()
    app = Authenticator(await page.locator("code.secret").inner_text())
    await page.get_by_label("Verification code").fill(app.code(clock.at))
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    await expect(page.locator(".codes li")).to_have_count(10)
    # The link worked once.
    await page.goto(link)
    await expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()


async def test_a_partner_fixes_a_failed_check_and_the_customer_rejects(
    new_page, people, operator: httpx.AsyncClient
) -> None:
    world = await people.world(standing={"unused_vouchers": 2})
    partner_page: Page = await new_page()
    await sign_in(partner_page, world.partner_admin)
    row = partner_page.get_by_role("row", name=re.compile(world.customer_name))
    await row.get_by_text("More").click()
    await row.get_by_role("link", name="Disassociate").click()
    await expect(partner_page.get_by_role("heading", name="Account check")).to_be_visible()
    failed = partner_page.locator("[data-item=no_unused_vouchers]")
    await expect(failed).to_have_class(re.compile("failed"))
    await expect(failed).to_contain_text(re.compile("voucher", re.I))
    await assert_accessible(partner_page)
    await screenshot(partner_page, "check-failed")

    # The operator clears the vouchers; the partner checks again and goes on.
    fixed = await operator.put(
        f"/v1/admin/customers/{world.customer_id}/standing", json={"unused_vouchers": 0}
    )
    assert fixed.status_code == 200, fixed.text
    await partner_page.get_by_role("button", name="Check again").click()
    await expect(partner_page.get_by_text("The account passed the check.")).to_be_visible()
    await partner_page.get_by_role("button", name="Disassociate").click()
    await expect(partner_page.locator("#acknowledged-error")).to_be_visible()  # not ticked yet
    await partner_page.get_by_label(
        "I understand the preceding statement and confirm to disassociate"
    ).check()
    await screenshot(partner_page, "check-passed")
    await partner_page.get_by_role("button", name="Disassociate").click()
    await expect(partner_page.get_by_role("dialog", name="Disassociate")).to_be_visible()
    await partner_page.get_by_role("button", name="Confirm").click()  # no reason yet
    await expect(partner_page.locator("#reason-error")).to_have_text(re.compile("Enter a reason"))
    await assert_accessible(partner_page)
    await screenshot(partner_page, "disassociate-dialog")  # the error beside the empty field
    await partner_page.get_by_label("Reason").fill("Moving the account to our EU entity")
    await expect(partner_page.locator("#reason-count")).to_have_text("35 / 500")
    await partner_page.get_by_role("button", name="Confirm").click()
    await expect(partner_page.get_by_text("The request has been submitted")).to_be_visible()
    await expect(partner_page.locator(".request-live .status")).to_have_text("Awaiting response")
    await screenshot(partner_page, "request-submitted")

    customer_page: Page = await new_page()
    await sign_in(customer_page, world.customer_person)
    await expect(customer_page.get_by_text("Your partner asks to disassociate")).to_be_visible()
    await screenshot(customer_page, "my-partner-pending")
    await customer_page.get_by_role("button", name="Reject").click()
    await customer_page.get_by_role("button", name="Reject").click()  # no reason yet
    await expect(customer_page.locator("#reason-error")).to_be_visible()
    await customer_page.get_by_label("Reason").fill("We still need your support")
    await assert_accessible(customer_page)
    await customer_page.get_by_role("button", name="Reject").click()
    await expect(customer_page.get_by_text("You rejected the request")).to_be_visible()
    # The partner's open page shows it without a reload.
    await expect(partner_page.locator(".request-live .status")).to_have_text(
        "Rejected", timeout=LIVE_WITHIN_MS
    )


async def test_the_partner_agrees_and_the_customers_open_page_shows_it_live(
    new_page, people
) -> None:
    world = await people.world()
    customer_page: Page = await new_page()
    await sign_in(customer_page, world.customer_person)
    await customer_page.get_by_role("link", name="Disassociate").click()
    await customer_page.get_by_label(
        "I understand the preceding statement and confirm to disassociate"
    ).check()
    await customer_page.get_by_role("button", name="Disassociate").click()
    await customer_page.get_by_label("Reason").fill("We have an in-house team now")
    await customer_page.get_by_role("button", name="Confirm").click()
    await expect(customer_page.get_by_text("The request has been submitted")).to_be_visible()
    request_url = customer_page.url

    partner_page: Page = await new_page()
    await sign_in(partner_page, world.partner_admin)
    await expect(partner_page.locator("#unread-badge")).to_contain_text("1")
    await partner_page.get_by_role("link", name="Association records").first.click()
    await partner_page.get_by_role("link", name="Disassociations").click()
    await assert_accessible(partner_page)
    await screenshot(partner_page, "records-disassociations")
    row = partner_page.get_by_role("row", name=re.compile(world.customer_name))
    await row.get_by_role("button", name="Agree").click()
    await expect(partner_page.get_by_text("You agreed.")).to_be_visible()

    # Nobody reloaded the customer's page.
    assert customer_page.url == request_url
    await expect(customer_page.locator(".request-live .status")).to_have_text(
        "Agreed", timeout=LIVE_WITHIN_MS
    )
    await expect(customer_page.locator("#unread-badge")).to_contain_text(
        re.compile(r"\d"), timeout=LIVE_WITHIN_MS
    )
    await expect(customer_page.get_by_role("button", name="Withdraw")).to_have_count(0)


async def test_a_read_only_user_sees_no_actions_and_the_server_refuses_anyway(
    page: Page, people, console_server: str
) -> None:
    world = await people.world()
    await people.pending_request(world, initiator="customer")
    await sign_in(page, world.partner_reader)
    await expect(page.get_by_role("heading", name="Customer Management")).to_be_visible()
    await expect(page.get_by_text("More")).to_have_count(0)
    await expect(page.get_by_role("link", name="Disassociate")).to_have_count(0)
    await expect(page.get_by_role("link", name="Change type")).to_have_count(0)
    await page.goto("/console/records?tab=disassociations")
    await expect(page.get_by_role("row")).not_to_have_count(1)
    await expect(page.get_by_role("button", name="Agree")).to_have_count(0)
    await expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    # The pages hide the actions; the server refuses them all the same.
    refused = await page.goto(f"/console/associations/{world.association_id}/disassociate")
    assert refused is not None and refused.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("may not")
    refused = await page.goto(f"/console/associations/{world.association_id}/change-type")
    assert refused is not None and refused.status == 403


async def test_a_distributor_sees_its_resellers_customers_read_only(page: Page, people) -> None:
    world = await people.world()
    await people.pending_request(world, initiator="customer")
    distributor_admin = await people.partner_person(world.distributor_id, ["admin"])
    await sign_in(page, distributor_admin)
    row = page.get_by_role("row", name=re.compile(world.customer_name))
    await expect(row).to_contain_text(world.partner_name)  # whose customer it is
    await expect(row.get_by_text("More")).to_have_count(0)
    await page.goto("/console/records?tab=disassociations")
    await expect(page.get_by_role("row", name=re.compile(world.customer_name))).to_be_visible()
    await expect(page.get_by_role("button", name="Agree")).to_have_count(0)
    await expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    refused = await page.goto(f"/console/associations/{world.association_id}/disassociate")
    assert refused is not None and refused.status == 403


async def test_a_partner_service_provider_reaches_its_customers_from_the_customers_tab(
    page: Page, people
) -> None:
    world = await people.world(partner_type="psp")
    await sign_in(page, world.partner_admin)
    await page.goto("/console/records")
    await page.get_by_role("link", name="Customers", exact=True).click()
    row = page.get_by_role("row", name=re.compile(world.customer_name))
    await row.get_by_text("More").click()
    await row.get_by_role("link", name="Disassociate").click()
    await expect(page.get_by_role("heading", name="Account check")).to_be_visible()


async def test_a_form_without_its_csrf_token_is_refused(page: Page, people) -> None:
    world = await people.world()
    await sign_in(page, world.partner_admin)
    answer = await page.request.post(
        "/console/settings", form={"verification_required": "on"}
    )  # the session cookie goes along; the form's token does not
    assert answer.status == 403
    assert "This form has expired" in await answer.text()
    settings = await page.goto("/console/settings")
    assert settings is not None and settings.ok
    await expect(page.get_by_label("Require verification")).not_to_be_checked()


async def test_an_ended_session_sends_the_person_to_sign_in_again(
    page: Page, people, factory
) -> None:
    world = await people.world()
    # Signed in, and the page's event stream connected (its `ready` refreshes the badge): a stream
    # connecting after the session ended would send this page to sign in by itself.
    async with page.expect_response(re.compile(r"/console/messages/badge")):
        await sign_in(page, world.partner_admin)
    await factory.fetch(
        "UPDATE console_sessions SET last_seen_at = now() - interval '1 day'"
        " WHERE person_id = %s RETURNING person_id",
        world.partner_admin.id,
    )
    await page.goto("/console/records")
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next=/console/records&ended=1"))
    await expect(page.get_by_text("Your session has ended. Sign in again.")).to_be_visible()
    await page.get_by_label("Email").fill(world.partner_admin.email)
    await page.get_by_label("Password").fill(world.partner_admin.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/console/records$"))


async def test_an_open_page_goes_to_sign_in_when_its_session_ends(
    page: Page, people, factory, monkeypatch
) -> None:
    # The stream checks its session every minute; the test would rather not wait that long.
    monkeypatch.setattr("console.pages.events.SESSION_CHECK_EVERY", 0.2)
    world = await people.world()
    await sign_in(page, world.partner_admin)
    here = "/console/records?tab=disassociations"

    def this_pages_badge(response) -> bool:  # not the badge of the page before it
        return "/console/messages/badge" in response.url and here in (
            response.request.headers.get("hx-current-url") or ""
        )

    async with page.expect_response(this_pages_badge):
        await page.goto(here)  # its stream's `ready` refreshes the badge
    await factory.fetch(
        "UPDATE console_sessions SET last_seen_at = now() - interval '1 day'"
        " WHERE person_id = %s RETURNING person_id",
        world.partner_admin.id,
    )
    # Sent by the stream (or by the page's next request, whichever comes first), with the page
    # to come back to, its query included.
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"ended": ["1"], "next": [here]}
    await expect(page.get_by_text("Your session has ended. Sign in again.")).to_be_visible()
    await page.get_by_label("Email").fill(world.partner_admin.email)
    await page.get_by_label("Password").fill(world.partner_admin.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/console/records\?tab=disassociations$"))


async def test_a_form_sent_twice_makes_one_request(page: Page, people, factory) -> None:
    world = await people.world()
    await sign_in(page, world.partner_admin)
    await page.goto(f"/console/associations/{world.association_id}/disassociate")
    await page.get_by_label(
        "I understand the preceding statement and confirm to disassociate"
    ).check()
    await page.get_by_role("button", name="Disassociate").click()
    await page.get_by_label("Reason").fill("Twice sent, once meant")
    confirm = page.get_by_role("button", name="Confirm")
    await confirm.dblclick()
    await expect(page.get_by_text("The request has been submitted")).to_be_visible()
    await page.go_back()  # the dialog again, with the same form
    await expect(page.get_by_role("button", name="Confirm")).to_be_visible()
    await page.get_by_role("button", name="Confirm").click()
    requests = await factory.count(
        "SELECT count(*) FROM requests WHERE association_id = %s",
        world.association_id,
    )
    assert requests == 1


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_every_page_is_accessible_and_fits(new_page, people, width: str) -> None:
    world = await people.world()
    request_id = await people.pending_request(world, initiator="customer")
    viewport = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}
    page: Page = await new_page(viewport=viewport[width], is_mobile=width == "phone")
    await sign_in(page, world.partner_admin)
    paths = [
        "/console/customers",
        f"/console/associations/{world.association_id}/disassociate",
        f"/console/associations/{world.association_id}/change-type",
        f"/console/associations/{world.association_id}/change-type?new_type=referral",
        "/console/records",
        "/console/records?tab=type_changes",
        "/console/records?tab=disassociations",
        "/console/records?tab=partner_changes",
        "/console/incoming-customers",
        f"/console/requests/{request_id}",
        f"/console/requests/{request_id}/reject",
        "/console/messages",
        "/console/settings",
        "/console/settings/mfa",
        f"/console/{uuid.uuid4()}",
    ]
    for path in paths:
        await page.goto(path)
        await assert_accessible(page)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} is wider than the screen by {overflow}px"
    if width == "phone":
        await page.goto("/console/customers")
        await screenshot(page, "customers-phone")
    else:
        await page.goto("/console/customers")
        await screenshot(page, "customers")
        await page.goto("/console/messages")
        await screenshot(page, "message-center")
        await page.goto("/console/settings")
        await screenshot(page, "settings")
