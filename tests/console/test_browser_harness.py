"""The browser harness itself: Debian's Chromium under Playwright, the app served over HTTP,
axe-core, screenshots and the JavaScript-error collector, each shown on a page that exists
without the console."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from playwright.async_api import Browser, Page

from tests.console.browser import (
    SCREENSHOTS,
    assert_accessible,
    chromium_path,
    js_errors,
    screenshot,
)

CLEAN = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Requests</title></head>
<body>
  <main>
    <h1>Requests</h1>
    <p>Nothing is pending.</p>
    <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="" width="1" height="1">
    <form><label for="q">Search</label> <input id="q" name="q"> <button>Go</button></form>
  </main>
</body>
</html>"""

VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'

# The same page with an image that has no text alternative: axe's `image-alt`, critical.
PLANTED = CLEAN.replace('alt="" ', "")


async def test_chromium_is_debians_binary(browser: Browser) -> None:
    """The browser Playwright drives is the binary on disk (Debian's chromium package here), not
    a download of Playwright's own."""
    version = await asyncio.to_thread(
        subprocess.run,
        [str(chromium_path()), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    binary = version.stdout
    assert browser.browser_type.name == "chromium"
    assert f" {browser.version} " in f"{binary} ", (browser.version, binary)
    page = await browser.new_page()
    try:
        assert await page.evaluate("1 + 1") == 2
    finally:
        await page.close()


async def test_a_page_comes_over_http_from_the_served_app(
    console_server: str, page: Page, mobile_page: Page
) -> None:
    assert console_server.startswith("http://127.0.0.1:")
    response = await page.goto("/healthz")
    assert response is not None and response.status == 200
    assert page.url == f"{console_server}/healthz"
    assert page.viewport_size == {"width": 1280, "height": 800}
    assert await page.evaluate("window.innerWidth") == 1280

    response = await mobile_page.goto("/readyz")
    assert response is not None and response.status == 200
    assert mobile_page.viewport_size == {"width": 375, "height": 812}
    # A phone lays a page out 375 px wide only if it says it fits (the viewport meta tag).
    await mobile_page.set_content(CLEAN)
    assert await mobile_page.evaluate("window.innerWidth") > 900  # 980, a desktop page shrunk
    await mobile_page.set_content(CLEAN.replace("<head>", f"<head>{VIEWPORT}"))
    assert await mobile_page.evaluate("window.innerWidth") == 375
    # Each page has a context of its own: nothing is shared between them.
    assert page.context is not mobile_page.context


async def test_axe_passes_a_clean_page(page: Page) -> None:
    await page.set_content(CLEAN)
    await assert_accessible(page)


async def test_axe_fails_a_missing_alternative_and_names_the_rule_and_element(page: Page) -> None:
    await page.set_content(PLANTED)
    with pytest.raises(AssertionError) as failure:
        await assert_accessible(page)
    message = str(failure.value)
    assert "1 serious or critical accessibility violation(s)" in message
    assert "image-alt (critical): Images must have alternative text" in message
    assert message.endswith("\n    img")  # the element, by its selector


async def test_a_screenshot_is_written_once_unless_asked_again(
    page: Page, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSOCFLOW_SCREENSHOTS", raising=False)
    await page.set_content(CLEAN)
    path = await screenshot(page, "clean", directory=tmp_path)
    assert path == tmp_path / "clean.png"
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # Full page: as wide as the viewport, at least as tall.
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) >= (1280, 800) and width == 1280

    path.write_bytes(b"committed")
    assert await screenshot(page, "clean", directory=tmp_path) is None
    assert path.read_bytes() == b"committed"

    monkeypatch.setenv("ASSOCFLOW_SCREENSHOTS", "1")
    assert await screenshot(page, "clean", directory=tmp_path) == path
    assert path.read_bytes().startswith(b"\x89PNG")
    # The default is the documentation's directory.
    assert SCREENSHOTS.parts[-2:] == ("docs", "console")


async def test_a_javascript_error_fails_the_collector(page: Page) -> None:
    errors = js_errors(page)
    await page.set_content("<!doctype html><title>x</title><p>fine</p>")
    errors.check()  # nothing yet

    await page.set_content(
        "<!doctype html><title>x</title>"
        "<script>console.error('console says no')</script>"
        "<script>undefinedFunction()</script>"
    )
    await page.wait_for_timeout(50)  # the events come in over the driver's pipe
    with pytest.raises(AssertionError) as failure:
        errors.check()
    message = str(failure.value)
    assert "2 JavaScript error(s)" in message
    assert "console.error" in message and "console says no" in message
    assert "undefinedFunction is not defined" in message

    # What a test provokes on purpose can be let through.
    errors.allow(r"expected failure")
    await page.evaluate("setTimeout(() => { throw new Error('expected failure') })")
    await page.wait_for_timeout(50)
    errors.check()
