"""Type changes in the console (SPEC v3), in a real browser: "Change type" beside "Disassociate",
the check for the chosen new type, the acknowledgement, the dialog with the new type and the
reason, and the other side's Agree on its My partner page or Reject in the Type changes tab's
Operation column, each seen by the asking side without a reload."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.console.browser import assert_accessible, screenshot
from tests.console.people import sign_in

pytestmark = pytest.mark.devserver

LIVE_WITHIN_MS = 15_000  # SSE delivers at once; this is the bound, not the expectation
ACKNOWLEDGEMENT = "I understand the preceding statement and confirm to change the association type"


async def test_a_partner_asks_to_change_the_type_and_the_customer_agrees(new_page, people) -> None:
    world = await people.world()  # a resale association
    partner_page: Page = await new_page()
    await sign_in(partner_page, world.partner_admin)
    row = partner_page.get_by_role("row", name=re.compile(world.customer_name))
    await row.get_by_text("More").click()
    await expect(row.get_by_role("link", name="Disassociate")).to_be_visible()
    await screenshot(partner_page, "customers-more")  # Change type beside Disassociate
    await row.get_by_role("link", name="Change type").click()
    await expect(partner_page.get_by_role("heading", name="Account check")).to_be_visible()
    await partner_page.get_by_role("button", name="Check the account").click()  # none chosen
    await expect(partner_page.locator("#new_type-error")).to_have_text("Choose the new type.")
    await partner_page.get_by_label("New type").select_option("referral")
    await partner_page.get_by_role("button", name="Check the account").click()
    await expect(partner_page.get_by_text("The account passed the check.")).to_be_visible()
    await expect(partner_page.locator("[data-item=type_differs]")).to_have_class("passed")
    await expect(partner_page.locator("#statement")).to_contain_text("from Resale to Referral")
    await partner_page.get_by_role("button", name="Change type").click()
    await expect(partner_page.locator("#acknowledged-error")).to_be_visible()  # not ticked yet
    await partner_page.get_by_label(ACKNOWLEDGEMENT).check()
    await assert_accessible(partner_page)
    await screenshot(partner_page, "type-change-check")
    await partner_page.get_by_role("button", name="Change type").click()

    await expect(partner_page.get_by_role("dialog", name="Change type")).to_be_visible()
    await expect(partner_page.get_by_label("New type")).to_have_value("referral")  # as checked
    await partner_page.get_by_label("Reason").fill("The customer now pays the platform directly")
    await assert_accessible(partner_page)
    await screenshot(partner_page, "type-change-dialog")
    await partner_page.get_by_role("button", name="Confirm").click()
    await expect(partner_page.get_by_text("The request has been submitted")).to_be_visible()
    await expect(partner_page.get_by_role("heading", name="Type change request")).to_be_visible()
    await expect(partner_page.locator(".type-change")).to_have_text(re.compile("Resale.+Referral"))
    await expect(partner_page.locator(".request-live .status")).to_have_text("Awaiting response")
    await assert_accessible(partner_page)
    await screenshot(partner_page, "type-change-submitted")

    customer_page: Page = await new_page()
    await sign_in(customer_page, world.customer_person)
    pending = customer_page.get_by_role("region", name="Your partner asks to change the")
    await expect(pending).to_contain_text(re.compile("Resale.+Referral"))
    await expect(customer_page.get_by_role("link", name="Change type")).to_have_count(0)
    await pending.get_by_role("button", name="Agree").click()
    await expect(
        customer_page.get_by_text("You agreed. The association is now Referral")
    ).to_be_visible()
    # The partner's open page shows it without a reload.
    await expect(partner_page.locator(".request-live .status")).to_have_text(
        "Agreed", timeout=LIVE_WITHIN_MS
    )
    await customer_page.get_by_role("link", name="My partner").click()
    await expect(customer_page.locator("dl.facts")).to_contain_text("Referral")

    # On record: the asking (now agreed), the agreement, and the change itself.
    await partner_page.goto("/console/records?tab=type_changes")
    await expect(partner_page.locator("tr[data-action=requested]")).to_contain_text("Now: Agreed")
    await expect(partner_page.locator("tr[data-action=agreed]")).to_be_visible()
    changed = partner_page.locator("tr[data-action=type_changed]")
    await expect(changed).to_contain_text(re.compile("Resale.+Referral"))
    await expect(changed.get_by_role("link", name="View")).to_be_visible()


async def test_a_customer_asks_and_a_partner_processor_rejects_in_the_type_changes_tab(
    new_page, people, operator: httpx.AsyncClient
) -> None:
    world = await people.world()
    # An operator's change, on record beside the requests (no request: nothing to decide).
    changed = await operator.patch(
        f"/v1/admin/associations/{world.association_id}",
        json={"association_type": "advance_payment", "reason": "Contract renewed"},
    )
    assert changed.status_code == 200, changed.text
    processor = await people.partner_person(
        world.partner_id, ["associations:read", "type_changes:process"]
    )

    customer_page: Page = await new_page()
    await sign_in(customer_page, world.customer_person)
    await customer_page.get_by_role("link", name="Change type").click()
    await customer_page.get_by_label("New type").select_option("resale")
    await customer_page.get_by_role("button", name="Check the account").click()
    await customer_page.get_by_label(ACKNOWLEDGEMENT).check()
    await customer_page.get_by_role("button", name="Change type").click()
    await customer_page.get_by_role("button", name="Confirm").click()  # no reason yet
    await expect(customer_page.locator("#reason-error")).to_have_text(re.compile("Enter a reason"))
    await expect(customer_page.get_by_label("New type")).to_have_value("resale")  # kept
    await customer_page.get_by_label("Reason").fill("We would rather buy through our partner")
    await customer_page.get_by_role("button", name="Confirm").click()
    await expect(customer_page.get_by_text("The request has been submitted")).to_be_visible()

    partner_page: Page = await new_page()
    await sign_in(partner_page, processor)
    await expect(partner_page.get_by_text("More")).to_have_count(0)  # may answer, not ask
    await partner_page.get_by_role("link", name="Association records").first.click()
    await partner_page.get_by_role("link", name="Type changes").click()
    by_operator = partner_page.locator("tr[data-action=type_changed]")
    await expect(by_operator).to_contain_text("Contract renewed")
    await expect(by_operator).to_contain_text(re.compile("Resale.+Advance payment"))
    await expect(by_operator.get_by_role("button")).to_have_count(0)
    asked = partner_page.locator("tr[data-action=requested]")
    await expect(asked).to_contain_text("Requested by the customer")
    await expect(asked).to_contain_text(re.compile("Advance payment.+Resale"))
    await assert_accessible(partner_page)
    await screenshot(partner_page, "records-type-changes")
    await asked.get_by_role("button", name="Reject").click()
    dialog = partner_page.get_by_role("dialog", name="Reject")
    await expect(dialog).to_contain_text("Its type stays Advance payment")
    await partner_page.get_by_label("Reason").fill("Resale needs a new contract first")
    await partner_page.get_by_role("button", name="Reject").click()
    await expect(
        partner_page.get_by_text("The association's type stays Advance payment")
    ).to_be_visible()
    # The customer's open request page shows it without a reload.
    await expect(customer_page.locator(".request-live .status")).to_have_text(
        "Rejected", timeout=LIVE_WITHIN_MS
    )
    await partner_page.goto("/console/records?tab=type_changes&status=rejected")
    await expect(partner_page.locator("tbody tr")).to_have_count(1)
    await expect(partner_page.locator("tbody tr")).to_contain_text("Resale needs a new contract")


async def test_a_failed_item_says_what_to_do_and_a_refused_submit_goes_back_to_the_check(
    page: Page, people, operator: httpx.AsyncClient
) -> None:
    world = await people.world(standing={"unused_vouchers": 3})
    asker = await people.partner_person(
        world.partner_id, ["associations:read", "type_changes:submit"]
    )
    await sign_in(page, asker)
    row = page.get_by_role("row", name=re.compile(world.customer_name))
    await row.get_by_text("More").click()
    await expect(row.get_by_role("link", name="Disassociate")).to_have_count(0)  # not theirs
    await row.get_by_role("link", name="Change type").click()
    await page.get_by_label("New type").select_option("referral")
    await page.get_by_role("button", name="Check the account").click()
    failed = page.locator("[data-item=no_unused_vouchers]")
    await expect(failed).to_have_class("failed")
    await expect(failed).to_contain_text(re.compile("voucher", re.I))
    await expect(page.get_by_label(ACKNOWLEDGEMENT)).to_have_count(0)  # no going on
    await assert_accessible(page)
    await screenshot(page, "type-change-check-failed")

    # Vouchers matter only to a change to referral: another type passes.
    await page.get_by_label("New type").select_option("advance_payment")
    await page.get_by_role("button", name="Check again").click()
    await expect(page.get_by_text("The account passed the check.")).to_be_visible()
    await page.get_by_label(ACKNOWLEDGEMENT).check()
    await page.get_by_role("button", name="Change type").click()
    await page.get_by_label("Reason").fill("Prepaid billing suits the customer")
    # Meanwhile the customer falls into arrears: the submit goes back to the check's items.
    put = await operator.put(
        f"/v1/admin/customers/{world.customer_id}/standing", json={"arrears": "120.00"}
    )
    assert put.status_code == 200, put.text
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("heading", name="Account check")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_attribute("data-problem", "check_failed")
    await expect(page.locator("[data-item=no_arrears]")).to_have_class("failed")
    await expect(page.get_by_label("New type")).to_have_value("advance_payment")

    # A type that is no type: words beside the field, not an error page.
    answer = await page.goto(
        f"/console/associations/{world.association_id}/change-type?new_type=gold"
    )
    assert answer is not None and answer.status == 422
    await expect(page.locator("#new_type-error")).to_have_text("Choose the new type.")
    # An address under the association that is no flow's.
    answer = await page.goto(f"/console/associations/{world.association_id}/merge")
    assert answer is not None and answer.status == 404
