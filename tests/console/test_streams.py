"""The console's event streams (console/pages/events.py) over real HTTP: a stream without a
session says `signed-out` and ends; one session, and one address, have only so many open at once;
and an open stream does not keep its session from going idle — the open page goes to sign in by
itself once ASSOCFLOW_CONSOLE_IDLE_TIMEOUT has passed without a page."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Page, Response, expect
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from application import sessions
from application.live import LiveEvent
from application.principal import Principal
from application.services import Services
from assocflow.settings import Settings
from console.auth import SESSION_COOKIE
from console.pages import events
from store.accounts import PostgresStanding
from tests.console.people import Person, sign_in
from tests.mfa import Clock
from workflows.gateway import Gateway

pytestmark = pytest.mark.devserver

ENDS_WITHIN = 5.0  # a stream that ends does so at once; this is the bound
FREED_WITHIN = 5.0  # how soon a closed stream's place is taken again
CHECK_EVERY = 0.2  # the streams' session check, in these tests (seconds)


# Counts the event streams a page closes (console.js on `signed-out`), in sessionStorage: the
# count outlives the page's going to sign in. A page left behind closes its stream uncounted.
COUNT_CLOSED_STREAMS = """
(() => {
  const close = EventSource.prototype.close;
  EventSource.prototype.close = function () {
    const closed = Number(sessionStorage.getItem("streamsClosed") || 0) + 1;
    sessionStorage.setItem("streamsClosed", String(closed));
    return close.call(this);
  };
})();
"""


@pytest.fixture
def svc(pool: AsyncConnectionPool, dev_env: WorkflowEnvironment, console_settings: Settings):
    return Services(
        pool=pool,
        temporal=Gateway(dev_env.client, console_settings.task_queue),
        settings=console_settings,
        standing=PostgresStanding(pool),
    )


@pytest.fixture
def session_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The time sessions are judged at, moved by the test (as tests/api/test_sign_in.py does)."""
    monkeypatch.setattr(sessions, "now", clock.now)
    return clock


@pytest.fixture
async def client(console_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console_server, timeout=10) as client:
        yield client


async def _signed_in(svc: Services, person: Person) -> dict[str, str]:
    """The headers of a browser with a new session of the person's (its cookie)."""
    signed_in = await sessions.sign_in(svc, person.email, person.password, client="tests")
    return _cookie(signed_in.token)


def _cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


class _Stream:
    """One open event stream: what it said so far, and whether it ended."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.said: list[str] = []
        self.ready = asyncio.Event()
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for line in self.response.aiter_lines():
            self.said.append(line)
            if line == "event: ready":
                self.ready.set()

    @property
    def ended(self) -> bool:
        return self.reading.done()

    async def close(self) -> None:
        self.reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self.reading
        await self.response.aclose()


async def _open(client: httpx.AsyncClient, who: dict[str, str]) -> httpx.Response:
    """A stream's response, its status and headers read, its body not."""
    request = client.build_request("GET", "/console/events", headers=who)
    return await client.send(request, stream=True)


@contextlib.asynccontextmanager
async def _streams() -> AsyncIterator[list[_Stream]]:
    opened: list[_Stream] = []
    try:
        yield opened
    finally:
        for stream in opened:
            await stream.close()


async def _accepted(client: httpx.AsyncClient, who: dict[str, str]) -> _Stream:
    response = await _open(client, who)
    assert response.status_code == 200, response.status_code
    return _Stream(response)


async def _refused(client: httpx.AsyncClient, who: dict[str, str]) -> None:
    response = await _open(client, who)
    await response.aclose()
    assert response.status_code == 429, response.status_code


async def _accepted_again(client: httpx.AsyncClient, who: dict[str, str]) -> _Stream:
    """A stream accepted once a place is free again (the server learns of a closed one soon)."""
    deadline = asyncio.get_running_loop().time() + FREED_WITHIN
    while True:
        response = await _open(client, who)
        if response.status_code == 200 or asyncio.get_running_loop().time() > deadline:
            break
        await response.aclose()
        await asyncio.sleep(0.1)
    assert response.status_code == 200, response.status_code
    return _Stream(response)


async def test_a_stream_without_a_session_says_signed_out_and_ends(
    client: httpx.AsyncClient,
) -> None:
    for headers in ({}, _cookie("no-such-session")):
        async with client.stream("GET", "/console/events", headers=headers) as response:
            assert response.status_code == 200
            body = await asyncio.wait_for(response.aread(), ENDS_WITHIN)
        said = body.decode()
        assert "event: signed-out" in said
        assert "data: /console/sign-in?ended=1" in said
        # A browser that stayed would wait an hour before asking again, not a few seconds.
        assert re.search(r"^retry: 3600000\r?$", said, re.M), said


async def test_one_session_has_at_most_eight_streams_open_at_once(
    client: httpx.AsyncClient, people, svc: Services
) -> None:
    assert events.STREAMS_PER_SESSION == 8
    person = await people.partner_admin()
    who = await _signed_in(svc, person)
    async with _streams() as opened:
        for _ in range(events.STREAMS_PER_SESSION):
            opened.append(await _accepted(client, who))
        await _refused(client, who)
        await _refused(client, who)  # a refusal took no place
        # Another session of the same person, from the same address, has places of its own.
        other = await _accepted(client, await _signed_in(svc, person))
        opened.append(other)
        await opened.pop(0).close()
        opened.append(await _accepted_again(client, who))
        await _refused(client, who)


async def test_one_address_has_at_most_so_many_streams_open_at_once(
    client: httpx.AsyncClient, people, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert events.STREAMS_PER_ADDRESS == 32
    monkeypatch.setattr(events, "STREAMS_PER_ADDRESS", 3)  # as good as 32, and quicker
    person = await people.partner_admin()
    async with _streams() as opened:
        # A new session each time: only the address's cap can refuse them. (A page of another
        # test on 127.0.0.1 that is still closing may hold a place for a moment.)
        refused = None
        for _ in range(4):
            who = await _signed_in(svc, person)
            response = await _open(client, who)
            if response.status_code == 429:
                await response.aclose()
                refused = who
                break
            assert response.status_code == 200
            opened.append(_Stream(response))
        assert refused is not None and 1 <= len(opened) <= 3
        await opened.pop().close()
        opened.append(await _accepted_again(client, refused))


async def test_an_open_stream_does_not_keep_its_session_from_going_idle(
    client: httpx.AsyncClient,
    people,
    svc: Services,
    session_clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "SESSION_CHECK_EVERY", CHECK_EVERY)
    assert svc.settings.console_idle_timeout == timedelta(minutes=30)
    who = await _signed_in(svc, await people.partner_admin())
    async with _streams() as opened:
        stream = await _accepted(client, who)
        opened.append(stream)
        await asyncio.wait_for(stream.ready.wait(), ENDS_WITHIN)
        for _ in range(2):  # twenty minutes with the tab open, the stream checking all along
            session_clock.at += timedelta(minutes=10)
            await asyncio.sleep(CHECK_EVERY * 4)
            assert not stream.ended
        session_clock.at += timedelta(minutes=10, seconds=1)  # thirty without a page
        await asyncio.wait_for(asyncio.shield(stream.reading), ENDS_WITHIN)
        assert "event: signed-out" in stream.said
    page = await client.get("/console/customers", headers=who)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/sign-in?next=/console/customers&ended=1"


async def test_an_open_page_left_alone_goes_to_sign_in_when_the_session_goes_idle(
    page: Page, people, session_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "SESSION_CHECK_EVERY", CHECK_EVERY)
    await page.add_init_script(COUNT_CLOSED_STREAMS)
    person = await people.partner_admin()
    await sign_in(page, person)
    here = "/console/records?tab=disassociations"

    def this_pages_badge(response: Response) -> bool:  # not the badge of the page before it
        return "/console/messages/badge" in response.url and here in (
            response.request.headers.get("hx-current-url") or ""
        )

    async with page.expect_response(this_pages_badge):
        await page.goto(here)  # its stream's `ready` refreshes the badge (a page: it touches)
    for _ in range(2):  # the tab stays open; nobody opens a page
        session_clock.at += timedelta(minutes=10)
        await asyncio.sleep(CHECK_EVERY * 4)
        assert urlsplit(page.url).path == "/console/records"
    session_clock.at += timedelta(minutes=10, seconds=1)
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?"))
    assert parse_qs(urlsplit(page.url).query) == {"ended": ["1"], "next": [here]}
    # The page closed its stream (leaving, it would have gone anyway, uncounted).
    assert await page.evaluate("sessionStorage.getItem('streamsClosed')") == "1"
    # The session is over: a page sends the person to sign in.
    await page.goto("/console/customers")
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next=/console/customers&ended=1"))


def test_a_person_hears_only_of_what_they_may_read():
    request_id = uuid.uuid4()
    event = LiveEvent("disassociation.rejected", request_id)
    partner = uuid.uuid4()

    def heard(permissions: set[str]) -> set[str]:
        who = Principal(
            kind="partner_user",
            subject_id=str(uuid.uuid4()),
            partner_id=partner,
            permissions=frozenset(permissions),
        )
        return {str(message["event"]) for message in events._messages(event, who)}

    assert heard({"associations:read"}) == {"notification", f"request-{request_id}"}
    assert heard({"disassociations:process"}) == {f"request-{request_id}"}
    assert heard(set()) == set()
