"""Browser tests of the web console: one headless Chromium (Debian's, driven by Playwright) for
the session, and the assocflow app served over real HTTP on a free port, on the test database and
the Temporal dev server with the worker running.

    async def test_overview(console_server, page):
        await page.goto("/console")                      # relative to console_server
        await assert_accessible(page)                    # axe-core: serious/critical fail
        await screenshot(page, "overview")               # docs/console/overview.png
        # a JavaScript error on the page fails the test when it ends (js_errors(page).allow(...))
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, Playwright, async_playwright
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from assocflow.settings import Settings
from server.app import create_app
from tests.conftest import WEBHOOKS, make_settings
from tests.console.browser import (
    CHROMIUM_ARGS,
    DESKTOP,
    INSTALL_HINT,
    MOBILE,
    chromium_path,
    js_errors,
)
from tests.console.people import operator as operator  # the operator's API client (fixture)
from tests.console.people import people as people  # the people who click (fixture)

NewPage = Callable[..., Awaitable[Page]]
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 30.0
PAGES = pytest.StashKey[list[Page]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """A test whose pages reported a JavaScript error fails (as the test, not its teardown)."""
    result = yield
    for page in item.stash.get(PAGES, []):
        js_errors(page).check()
    return result


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    """Headless Chromium, started once for the session from Debian's binary (Playwright's own
    browser download is not used): skipped, with the way to install it, where there is none."""
    executable = chromium_path()
    if not executable.is_file():
        pytest.skip(f"no Chromium at {executable} (ASSOCFLOW_CHROMIUM): {INSTALL_HINT}")
    browser = await playwright.chromium.launch(
        executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    await browser.close()


@pytest.fixture(scope="session")
def console_settings(database_url: str, task_queue: str, dev_env: WorkflowEnvironment) -> Settings:
    """The served app's settings: the test database, the dev server and the worker's task queue
    (a setting the console needs in every browser test goes here: the server is one for the
    session)."""
    return make_settings(
        database_url,
        task_queue,
        temporal_address=dev_env.client.service_client.config.target_host,
        operator_token="test-operator-token",
        # Every browser signs in from 127.0.0.1, a dozen times a minute: the limit on one address
        # is tests/api/test_sign_in.py's to show, not a limit for the whole suite to run into.
        rate_limit_sign_in="1000/minute",
        **WEBHOOKS,
    )


class _Server:
    """uvicorn in a thread with its own event loop, on a socket bound before it starts (no race
    for the port): a test that blocks its own loop, or calls the server synchronously, does not
    stall it."""

    def __init__(self, settings: Settings) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        host, port = self.socket.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            create_app(settings),
            access_log=False,
            log_config=None,
            lifespan="on",
            # An open event stream (the console's live updates) does not hold the end up.
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.socket]},
            name="console-server",
            daemon=True,  # never holds the interpreter up, whatever happened to the session
        )

    async def start(self) -> None:
        timeout = SERVER_START_TIMEOUT
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the console server stopped while starting (see the log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the console server did not start within {timeout:.0f}s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        timeout = SERVER_STOP_TIMEOUT
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, timeout)
        self.socket.close()
        if self.thread.is_alive():
            raise RuntimeError(f"the console server did not stop within {timeout:.0f}s")


@pytest.fixture(scope="session")
async def console_server(console_settings: Settings, dev_worker: Worker) -> AsyncIterator[str]:
    """The base URL (`http://127.0.0.1:<port>`, no trailing slash) of `create_app(settings)`
    served by uvicorn, with its own connection pool and Temporal client, and the worker polling
    its task queue. Stopped, lifespan and all, at the end of the session."""
    server = _Server(console_settings)
    await server.start()
    yield server.url
    await server.stop()


@pytest.fixture
async def new_page(
    browser: Browser, console_server: str, request: pytest.FixtureRequest
) -> AsyncIterator[NewPage]:
    """Make a page in a fresh browser context (no cookies, no storage), relative URLs resolved
    against `console_server`: `await new_page()`, `await new_page(viewport=MOBILE)`, or any other
    `Browser.new_context` option. Every context is closed after the test, and the test fails if
    one of its pages reported a JavaScript error (see `js_errors`)."""
    pages = request.node.stash.setdefault(PAGES, [])

    async def make(viewport: dict[str, int] = DESKTOP, **options: Any) -> Page:
        context = await browser.new_context(viewport=viewport, base_url=console_server, **options)
        page = await context.new_page()
        js_errors(page)  # listening from the first request on
        pages.append(page)
        return page

    yield make
    try:
        for page in pages:  # what came in after the test's last line
            js_errors(page).check()
    finally:
        for page in pages:
            await page.context.close()


@pytest.fixture
async def page(new_page: NewPage) -> Page:
    """A 1280×800 page (see `new_page`)."""
    return await new_page()


@pytest.fixture
async def mobile_page(new_page: NewPage) -> Page:
    """A 375 px wide page, a phone's (see `new_page`)."""
    return await new_page(viewport=MOBILE, is_mobile=True, has_touch=True)
