"""The console in English and Simplified Chinese, in a real browser: the switcher on the sign-in
page and on every page after it, the person's own setting kept across signing in and out, the
browser's Accept-Language for a browser nobody chose for, and the walk of the main pages in
Chinese with no English word left on them (screenshots beside the English ones, `<name>-zh`)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from application import sessions
from application.errors import Failure
from application.services import Services
from assocflow import i18n
from store import sessions as sessions_store
from store.accounts import PostgresStanding
from tests.console.browser import assert_accessible, screenshot
from tests.console.people import PeopleWorld, Person, sign_in
from tests.factories import bearer
from workflows.gateway import Gateway

pytestmark = pytest.mark.devserver

LIVE_WITHIN_MS = 15_000  # SSE delivers at once; this is the bound, not the expectation
CHINESE_BROWSER = {"locale": "zh-CN"}
# What may stay in Latin letters on a Chinese page: the product's name, the zone of times, the
# names of standards and protocols, addresses and emails, ids, codes (`disassociation.agreed`),
# and each language's own name in the switcher.
LATIN_ALLOWED = re.compile(
    r"assocflow|UTC|CSV|Standard Webhooks|Webhooks?|HTTP|QR"
    r"|https?://\S*|[\w.+-]+@[\w-]+(\.[\w-]+)+"
    r"|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
    r"|\b[a-z]+(_[a-z]+)*(\.[a-z]+(_[a-z]+)*)+\b"
    + "".join(f"|{re.escape(name)}" for name in i18n.LANGUAGES.values())
)
# A run of three Latin letters or more is an English word nobody translated.
ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")


async def html_lang(page: Page) -> str | None:
    return await page.locator("html").get_attribute("lang")


async def english_left(page: Page, names: list[str]) -> list[str]:
    """The English words on the page's title, header and main part, once the names of the
    accounts and people it shows (`names`) and what LATIN_ALLOWED lets stay are taken out."""
    text = "\n".join(
        [await page.title(), await page.locator("header").inner_text()]
        + [await main.inner_text() for main in await page.locator("main").all()]
    )
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    return ENGLISH_WORD.findall(LATIN_ALLOWED.sub(" ", text))


async def assert_all_chinese(page: Page, names: list[str]) -> None:
    assert await html_lang(page) == i18n.CHINESE
    left = await english_left(page, names)
    assert left == [], f"untranslated on {page.url}: {left}"


async def sign_in_in_chinese(page: Page, person: Person) -> None:
    """Sign in through the sign-in page as it reads in Chinese."""
    await page.goto("/console/sign-in")
    await page.get_by_label("电子邮件").fill(person.email)
    await page.get_by_label("密码").fill(person.password)
    await page.get_by_role("button", name="登录").click()
    await expect(page).not_to_have_url(re.compile(r"/console/sign-in"))


async def language_of(factory, person: Person) -> str | None:
    [row] = await factory.fetch("SELECT language FROM people WHERE id = %s", person.id)
    return row["language"]


def names_of(world: PeopleWorld) -> list[str]:
    """The names the world's pages show: its accounts', its people's ("user", "person"), and the
    operator's who set it up ("tests")."""
    return [world.partner_name, world.customer_name, "user", "person", "tests"]


# --- choosing -----------------------------------------------------------------------------------


async def test_the_switcher_sets_the_language_before_and_after_signing_in(
    new_page, people, factory
) -> None:
    person = await people.partner_admin()
    page: Page = await new_page(locale="en-US")
    await page.goto("/console/sign-in?next=/console/records")
    assert await html_lang(page) == "en"
    await page.get_by_role("button", name="简体中文").click()
    # Back on the same page, its query kept, in Chinese.
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next=/console/records$"))
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    assert await html_lang(page) == "zh-Hans"
    await assert_accessible(page)
    await screenshot(page, "sign-in-zh")

    await page.get_by_label("电子邮件").fill(person.email)
    await page.get_by_label("密码").fill(person.password)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/console/records"))
    assert await html_lang(page) == "zh-Hans"  # the browser's choice, until the person makes one
    assert await language_of(factory, person) is None

    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Association records")).to_be_visible()
    assert await language_of(factory, person) == "en"
    await page.get_by_role("button", name="简体中文").click()
    await expect(page.get_by_role("heading", name="关联记录")).to_be_visible()
    assert await language_of(factory, person) == "zh-Hans"
    await assert_accessible(page)


async def test_the_persons_setting_follows_them_to_another_browser_and_out_again(
    new_page, people
) -> None:
    person = await people.partner_admin()
    chooser: Page = await new_page(locale="en-US")
    await sign_in(chooser, person)
    await chooser.get_by_role("button", name="简体中文").click()
    await expect(chooser.get_by_role("heading", name="客户管理")).to_be_visible()

    # Another browser, in English: the sign-in page is English, the person's pages Chinese.
    page: Page = await new_page(locale="en-US")
    await sign_in(page, person)
    await expect(page.get_by_role("heading", name="客户管理")).to_be_visible()
    assert await html_lang(page) == "zh-Hans"
    # Signed out, the browser remembers the person's language.
    await page.get_by_role("button", name="注销").click()
    await expect(page.get_by_text("你已注销。")).to_be_visible()
    assert await html_lang(page) == "zh-Hans"
    await sign_in_in_chinese(page, person)
    await page.get_by_role("button", name="English").click()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()


async def test_the_browsers_language_decides_for_a_browser_nobody_chose_for(new_page) -> None:
    chinese: Page = await new_page(**CHINESE_BROWSER)
    await chinese.goto("/console/sign-in")
    await expect(chinese.get_by_role("heading", name="登录")).to_be_visible()
    assert await html_lang(chinese) == "zh-Hans"
    await assert_all_chinese(chinese, [])
    # A form without its token is refused in the browser's language too.
    refused = await chinese.request.post(
        "/console/sign-in", form={"email": "a@b.test"}, headers={"Accept-Language": "zh-CN"}
    )
    assert refused.status == 403
    assert '<html lang="zh-Hans">' in await refused.text()
    assert "此表单已过期" in await refused.text()

    traditional: Page = await new_page(extra_http_headers={"Accept-Language": "zh-TW, fr;q=0.8"})
    await traditional.goto("/console/sign-in")
    await expect(traditional.get_by_role("heading", name="Sign in")).to_be_visible()
    assert await html_lang(traditional) == "en"

    english: Page = await new_page(locale="en-GB")
    await english.goto("/console/sign-in")
    assert await html_lang(english) == "en"


async def test_a_language_the_console_does_not_have_is_refused_and_no_redirect_leaves_it(
    page: Page,
) -> None:
    await page.goto("/console/sign-in")
    token = await page.locator("input[name=csrftoken]").first.get_attribute("value")
    refused = await page.request.post(
        "/console/language", form={"csrftoken": token or "", "language": "fr", "next": "/console/"}
    )
    assert refused.status == 422
    moved = await page.request.post(
        "/console/language",
        form={"csrftoken": token or "", "language": "zh-Hans", "next": "https://elsewhere.test/"},
        max_redirects=0,
    )
    assert moved.status == 303
    assert moved.headers["location"] == "/console/"


async def test_a_persons_language_is_one_the_console_has(people, pool, console_settings, dev_env):
    person = await people.partner_admin()
    svc = Services(
        pool=pool,
        temporal=Gateway(dev_env.client, console_settings.task_queue),
        settings=console_settings,
        standing=PostgresStanding(pool),
    )
    with pytest.raises(Failure) as refused:
        await sessions.set_language(svc, person.id, "zh-TW")
    assert refused.value.code == "validation_error"
    await sessions.set_language(svc, person.id, "zh-Hans")
    async with svc.pool.connection() as conn:
        found = await sessions_store.find(conn, await _a_session_of(svc, person))
    assert found is not None and found.language == "zh-Hans"


async def test_the_accounts_messages_are_written_in_the_language_its_admin_chose(
    new_page, people
) -> None:
    world = await people.world()
    page: Page = await new_page(locale="en-US")
    await sign_in(page, world.partner_admin)
    await page.goto("/console/settings")
    await page.get_by_label("Messages in the message center are written in").select_option(
        "zh-Hans"
    )
    await page.locator("form[action='/console/settings/language'] button").click()
    await expect(
        page.get_by_text("From now on, the account's messages are written in this language.")
    ).to_be_visible()
    await expect(page.get_by_label("Messages in the message center are written in")).to_have_value(
        "zh-Hans"
    )
    await assert_accessible(page)

    # The customer asks; the partner's message is in Chinese, on a page that stays English.
    await people.pending_request(world, initiator="customer")
    await page.goto("/console/messages")
    await expect(page.get_by_role("heading", name="Message center")).to_be_visible()
    await expect(page.locator("main")).to_contain_text(f"客户 {world.customer_name}")
    assert await html_lang(page) == "en"


async def _a_session_of(svc: Services, person: Person) -> str:
    signed_in = await sessions.sign_in(svc, person.email, person.password, client="tests")
    return signed_in.token


# --- the walk in Chinese ------------------------------------------------------------------------


async def test_the_walk_in_chinese_says_every_word_in_chinese(
    new_page, people, operator: httpx.AsyncClient
) -> None:
    world = await people.world(standing={"unused_vouchers": 2})
    names = names_of(world)
    # Both accounts read Chinese: their messages are written in it.
    for admin in (world.partner_admin, world.customer_person):
        chosen = await operator.patch(
            "/v1/settings", json={"language": "zh-Hans"}, headers=bearer(admin.token)
        )
        assert chosen.status_code == 200, chosen.text
    partner_page: Page = await new_page(**CHINESE_BROWSER)
    await sign_in_in_chinese(partner_page, world.partner_admin)
    await expect(partner_page.get_by_role("heading", name="客户管理")).to_be_visible()
    await assert_all_chinese(partner_page, names)
    await screenshot(partner_page, "customers-zh")

    # Disassociate: the check fails, then passes; the acknowledgement; the dialog.
    row = partner_page.get_by_role("row", name=re.compile(world.customer_name))
    await row.locator("details summary").click()
    await row.get_by_role("link", name="解除关联").click()
    await expect(partner_page.get_by_role("heading", name="账户检查")).to_be_visible()
    await assert_all_chinese(partner_page, names)
    await assert_accessible(partner_page)
    await screenshot(partner_page, "check-failed-zh")
    fixed = await operator.put(
        f"/v1/admin/customers/{world.customer_id}/standing", json={"unused_vouchers": 0}
    )
    assert fixed.status_code == 200, fixed.text
    await partner_page.get_by_role("button", name="重新检查").click()
    await expect(partner_page.get_by_text("账户已通过检查。")).to_be_visible()
    await partner_page.get_by_role("button", name="解除关联").click()
    await expect(partner_page.locator("#acknowledged-error")).to_be_visible()
    await assert_all_chinese(partner_page, names)
    await partner_page.get_by_label("我已了解上述说明，并确认解除关联").check()
    await screenshot(partner_page, "check-passed-zh")
    await partner_page.get_by_role("button", name="解除关联").click()
    await expect(partner_page.get_by_role("dialog", name="解除关联")).to_be_visible()
    await partner_page.get_by_role("button", name="确认").click()  # no reason yet
    await expect(partner_page.locator("#reason-error")).to_be_visible()
    await assert_all_chinese(partner_page, names)
    await assert_accessible(partner_page)
    await screenshot(partner_page, "disassociate-dialog-zh")
    await partner_page.get_by_label("原因").fill("我们将把账户转到欧盟的公司")
    await partner_page.get_by_role("button", name="确认").click()
    await expect(partner_page.locator(".request-live .status")).to_have_text("等待回复")
    await assert_all_chinese(partner_page, names)
    await assert_accessible(partner_page)
    await screenshot(partner_page, "request-submitted-zh")

    # The customer rejects, in Chinese; the partner's open page shows it live.
    customer_page: Page = await new_page(**CHINESE_BROWSER)
    await sign_in_in_chinese(customer_page, world.customer_person)
    await expect(customer_page.get_by_text("你的合作伙伴申请解除关联")).to_be_visible()
    await assert_all_chinese(customer_page, names)
    await screenshot(customer_page, "my-partner-pending-zh")
    await customer_page.get_by_role("button", name="拒绝").click()
    await customer_page.get_by_role("button", name="拒绝").click()  # no reason yet
    await expect(customer_page.locator("#reason-error")).to_be_visible()
    await assert_all_chinese(customer_page, names)
    await customer_page.get_by_label("原因").fill("我们仍需要你们的支持")
    await customer_page.get_by_role("button", name="拒绝").click()
    await expect(customer_page.locator(".request-live .status")).to_have_text("已拒绝")
    await assert_all_chinese(customer_page, names)
    await expect(partner_page.locator(".request-live .status")).to_have_text(
        "已拒绝", timeout=LIVE_WITHIN_MS
    )

    # The records, the message center, the settings and the incoming customers.
    walk = {
        "/console/records?tab=disassociations": "records-disassociations-zh",
        "/console/records": None,
        "/console/records?tab=type_changes": None,
        "/console/records?tab=partner_changes": None,
        "/console/messages": "message-center-zh",
        "/console/settings": "settings-zh",
        "/console/incoming-customers": None,
    }
    for path, picture in walk.items():
        await partner_page.goto(path)
        await assert_all_chinese(partner_page, names)
        if picture:
            await screenshot(partner_page, picture)
    await customer_page.goto("/console/messages")
    await assert_all_chinese(customer_page, names)
