"""The console's security headers (console/headers.py) on every kind of answer it gives, HSTS
only where people come by https, and the console still working under its Content-Security-Policy
in a real browser: no inline style or script, no eval, nothing the browser refuses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from playwright.async_api import ConsoleMessage, Error, Page, Response, expect

from application import sessions
from assocflow.settings import Settings
from console.auth import SESSION_COOKIE
from server.app import create_app
from tests.console.people import sign_in

LIVE_WITHIN_MS = 15_000

# What every console answer carries, the directives the issue asks for among them.
CSP_DIRECTIVES = {
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
}


def _app(public_url: str) -> FastAPI:
    """The app as built, without its lifespan: what these answers need is no database."""
    app = create_app(Settings(database_url="postgresql://unused/unused", public_url=public_url))
    app.state.services = None  # the dependency hands it on; the patched use case never reads it
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app("http://assocflow.test"))
    async with httpx.AsyncClient(transport=transport, base_url="http://assocflow.test") as c:
        yield c


async def _used_up(*args: object) -> None:
    return None  # the invitation was used: its page says so


def _assert_console_headers(answer: httpx.Response) -> None:
    where = f"{answer.request.method} {answer.request.url.path} ({answer.status_code})"
    policy = answer.headers.get("content-security-policy", "")
    directives = {d.strip() for d in policy.split(";")}
    assert directives >= CSP_DIRECTIVES, f"{where}: {policy!r}"
    assert not re.search(r"unsafe-(inline|eval)", policy), f"{where}: {policy!r}"
    assert answer.headers.get("x-content-type-options") == "nosniff", where
    assert answer.headers.get("referrer-policy") == "no-referrer", where


async def test_every_kind_of_console_answer_carries_the_security_headers(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = await client.get("/console/sign-in")
    assert page.status_code == 200
    to_sign_in = await client.get("/console/customers")
    assert to_sign_in.status_code == 303
    static = await client.get("/console/static/console.js")
    assert static.status_code == 200
    no_static = await client.get("/console/static/nothing.js")
    assert no_static.status_code == 404
    no_page = await client.get("/console/no-such-page")
    assert no_page.status_code == 404
    monkeypatch.setattr(sessions, "invitation", _used_up)
    invitation = await client.get("/console/invitation/its-token")  # the token in the address
    assert invitation.status_code == 404
    refused = await client.post("/console/sign-in", data={"email": "a@b.c", "password": "x"})
    assert refused.status_code == 403  # no CSRF token: asgi-csrf answers itself

    async def outage(*args: object, **kwargs: object) -> None:
        raise psycopg.OperationalError("the database is down")

    monkeypatch.setattr(sessions, "session", outage)
    client.cookies.set(SESSION_COOKIE, "a-token")
    unavailable = await client.get("/console/customers")
    assert unavailable.status_code == 503
    assert "Temporarily unavailable" in unavailable.text

    for answer in (page, to_sign_in, static, no_static, no_page, invitation, refused, unavailable):
        _assert_console_headers(answer)
        assert "strict-transport-security" not in answer.headers  # served over http


async def test_the_json_api_is_nosniff_without_the_consoles_policy(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/v1/associations")
    assert answer.status_code == 401
    assert answer.headers.get("x-content-type-options") == "nosniff"
    assert "content-security-policy" not in answer.headers


async def test_hsts_is_sent_only_when_people_come_by_https() -> None:
    for public_url, hsts in (("https://assocflow.example", True), ("", False)):
        transport = httpx.ASGITransport(app=_app(public_url))
        async with httpx.AsyncClient(transport=transport, base_url="https://assocflow.test") as c:
            for path in ("/console/sign-in", "/v1/associations"):
                answer = await c.get(path)
                sent = answer.headers.get("strict-transport-security")
                if hsts:
                    assert sent is not None and re.fullmatch(r"max-age=\d{7,}.*", sent), path
                else:
                    assert sent is None, path


def _badge_of(response: Response, page: str) -> bool:
    """The badge refreshed by that page's stream's `ready` (not the page's before it)."""
    return "/console/messages/badge" in response.url and page in (
        response.request.headers.get("hx-current-url") or ""
    )


class _Reports:
    """Everything the browser says about a page: console messages of any kind that speak of the
    policy or are errors, and uncaught exceptions."""

    def __init__(self, page: Page) -> None:
        self.said: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if urlsplit(message.location.get("url") or "").path == "/favicon.ico":
            return  # the browser's guess at an icon, not the page's (tests/console/browser.py)
        if message.type == "error" or "Content Security Policy" in text or "Refused to" in text:
            self.said.append(f"console.{message.type}: {text}")

    def _page_error(self, error: Error) -> None:
        self.said.append(f"pageerror: {error.message}")


@pytest.mark.devserver
async def test_the_console_works_under_its_content_security_policy(
    page: Page, people, console_server: str
) -> None:
    reports = _Reports(page)
    world = await people.world(standing={"unused_vouchers": 2})
    first = await page.goto("/console/sign-in")
    assert first is not None
    assert "frame-ancestors 'none'" in (await first.all_headers())["content-security-policy"]
    async with page.expect_response(re.compile(r"/console/messages/badge")):
        await sign_in(page, world.partner_admin)  # the stream's `ready` refreshes the badge
    await expect(page.get_by_role("heading", name="Customer Management")).to_be_visible()

    # An htmx form: the account check, made again in place.
    row = page.get_by_role("row", name=re.compile(world.customer_name))
    await row.get_by_text("More").click()
    await row.get_by_role("link", name="Disassociate").click()
    failed = page.locator("[data-item=no_unused_vouchers]")
    await expect(failed).to_have_class(re.compile("failed"))
    async with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        await page.get_by_role("button", name="Check again").click()
    await expect(failed).to_have_class(re.compile("failed"))

    # Another page, and a live update on it: the customer asks, the partner's badge says so.
    here = "/console/records?tab=disassociations"
    async with page.expect_response(lambda r: _badge_of(r, here)):
        await page.goto(here)  # its stream is listening
    await expect(page.locator("#unread-badge")).to_have_class(re.compile("empty"))
    await people.pending_request(world, initiator="customer")
    await expect(page.locator("#unread-badge")).to_contain_text(
        re.compile(r"\d"), timeout=LIVE_WITHIN_MS
    )
    assert reports.said == []
