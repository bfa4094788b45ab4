"""An operator resets a person's authenticator (a lost phone, or a stolen one): in the browser,
the person's open session is over, the old password signs nobody in, and only a new invitation
lets them back, to set up an authenticator before any other page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Page, expect

from tests.console.people import Person
from tests.factories import bearer


async def test_an_mfa_reset_ends_the_session_and_only_a_new_invitation_lets_the_person_back(
    page: Page, people, operator: httpx.AsyncClient, clock
) -> None:
    person: Person = await people.partner_admin(enrolled=True)
    turned_on = await operator.patch(
        "/v1/settings", json={"verification_required": True}, headers=bearer(person.token)
    )
    assert turned_on.status_code == 200, turned_on.text
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(person.email)
    await page.get_by_label("Password").fill(person.password)
    await page.get_by_role("button", name="Sign in").click()
    assert person.app is not None
    await page.get_by_label("Verification code").fill(person.app.code(clock.at))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Customer Management")).to_be_visible()

    # Away from the page (its event stream, which would also notice, closed): the cookie alone.
    await page.goto("about:blank")
    reset = await operator.delete(f"/v1/admin/people/{person.id}/mfa")
    assert reset.status_code == 204, reset.text
    await page.goto("/console/records")
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?.*ended=1"))
    # The password alone lets nobody in, to enrol an authenticator of their own.
    await page.get_by_label("Email").fill(person.email)
    await page.get_by_label("Password").fill(person.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#password-error")).to_have_text(re.compile("not right"))

    invited = await operator.post(f"/v1/admin/people/{person.id}/invitation")
    assert invited.status_code == 201, invited.text
    await page.goto(urlsplit(invited.json()["url"]).path)
    await page.get_by_label("Password", exact=True).fill("a new password of mine")
    await page.get_by_label("Password again").fill("a new password of mine")
    await page.get_by_role("button", name="Set password").click()
    await expect(page).to_have_url(re.compile(r"/console/settings/mfa"))
    await page.goto("/console/records")  # any other page: the authenticator first
    await expect(page).to_have_url(re.compile(r"/console/settings/mfa$"))
    # Nowhere else to go from there: no menu, and no live parts that would lead elsewhere.
    await expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
