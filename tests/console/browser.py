"""What a console test needs besides a page: Chromium found and launched the way this machine
allows, an accessibility check (axe-core), screenshots for docs/console/, and a collector that
fails a test when the page logs a JavaScript error."""

from __future__ import annotations

import os
import re
import weakref
from pathlib import Path
from urllib.parse import urlsplit

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import ConsoleMessage, Error, Page, Response

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "console"

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Headless Chromium on a machine with a closed network: no first-run UI, nothing fetched in the
# background (each refused connection would be logged), a GPU-less renderer. Playwright adds
# --headless and a fresh --user-data-dir of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "`make chromium` installs Debian's chromium (`make test` runs it where it may)"

DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 375, "height": 812}

# What fails `assert_accessible`: axe's two worst impacts (minor and moderate ones are reported
# by axe but left to review).
FAILING_IMPACTS = frozenset({"serious", "critical"})


def chromium_path() -> Path:
    """The Chromium binary the suite drives: ASSOCFLOW_CHROMIUM, or Debian's."""
    return Path(os.environ.get("ASSOCFLOW_CHROMIUM") or DEFAULT_CHROMIUM)


# -- accessibility -------------------------------------------------------------------------------

_axe = Axe()  # axe-core as bundled by axe-playwright-python, injected into each checked page


async def accessibility_violations(
    page: Page, *, impacts: frozenset[str] = FAILING_IMPACTS, context: str | None = None
) -> list[dict[str, object]]:
    """axe-core's violations on the page as it is now (only those of `impacts`), as axe reports
    them: `id`, `impact`, `help`, `helpUrl`, `nodes` (each with its `target` selectors)."""
    results = await _axe.run(page, context=context)
    return [v for v in results.response["violations"] if v.get("impact") in impacts]


def describe_violations(violations: list[dict[str, object]]) -> str:
    """One line per violation (rule id, impact, help), then one per element it found."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:  # type: ignore[attr-defined]
            target = " ".join(
                part if isinstance(part, str) else " >> ".join(part) for part in node["target"]
            )
            lines.append(f"    {target}")
    return "\n".join(lines)


async def assert_accessible(page: Page, *, context: str | None = None) -> None:
    """Fail when axe-core finds a serious or critical violation on the page (or, with `context`,
    in the part a CSS selector names), listing each rule and the elements it found."""
    violations = await accessibility_violations(page, context=context)
    if violations:
        raise AssertionError(
            f"{len(violations)} serious or critical accessibility violation(s) on {page.url}:\n"
            + describe_violations(violations)
        )


# -- screenshots ---------------------------------------------------------------------------------


def screenshots_wanted() -> bool:
    return os.environ.get("ASSOCFLOW_SCREENSHOTS") == "1"


def _screenshot_target(directory: Path, name: str) -> Path | None:
    path = directory / f"{name}.png"
    if path.exists() and not screenshots_wanted():
        return None
    directory.mkdir(parents=True, exist_ok=True)
    return path


async def screenshot(page: Page, name: str, *, directory: Path = SCREENSHOTS) -> Path | None:
    """The whole page as `<directory>/<name>.png` (docs/console/ by default), written only when
    ASSOCFLOW_SCREENSHOTS=1 or when that file does not exist yet: an ordinary run leaves committed
    pictures alone. Returns the path written, or None."""
    path = _screenshot_target(directory, name)
    if path is None:
        return None
    # Caret and animations still, so the same page gives the same picture.
    await page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    return path


# -- JavaScript errors ---------------------------------------------------------------------------


class JavaScriptErrors:
    """Everything a page reports as an error: uncaught exceptions and rejections (`pageerror`)
    and `console.error` messages, failed resource loads included (a 404 for a script is a broken
    page). A page the server answers with an error status on purpose (a form shown again with
    422, the 403 and 404 pages) is a page, not an error: Chromium's "Failed to load resource" for
    a document is left out. `check()` fails with the list; the `page` fixtures call it after each
    test."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self._allowed: list[re.Pattern[str]] = []
        self._error_documents: set[str] = set()
        page.on("response", self._on_response)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    def allow(self, pattern: str) -> None:
        """Ignore errors matching the regular expression (a test that provokes one on purpose)."""
        self._allowed.append(re.compile(pattern))

    def _record(self, text: str) -> None:
        if not any(p.search(text) for p in self._allowed):
            self.errors.append(text)

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type == "document":
            self._error_documents.add(response.url)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url") or self.page.url
        # Chromium asks every origin for /favicon.ico unless the page names an icon: its 404 is
        # the browser's guess, not the page's error.
        if urlsplit(where).path == "/favicon.ico":
            return
        if message.text.startswith("Failed to load resource") and where in self._error_documents:
            return
        self._record(f"console.error at {where}: {message.text}")

    def _on_page_error(self, error: Error) -> None:
        self._record(f"uncaught {error.name or 'error'} on {self.page.url}: {error.message}")

    def check(self) -> None:
        """Fail if an error was reported since the last check (the list is then cleared)."""
        errors, self.errors = self.errors, []
        if errors:
            raise AssertionError(
                f"the page reported {len(errors)} JavaScript error(s):\n"
                + "\n".join(f"  {e}" for e in errors)
            )


_collectors: weakref.WeakKeyDictionary[Page, JavaScriptErrors] = weakref.WeakKeyDictionary()


def js_errors(page: Page) -> JavaScriptErrors:
    """The collector of `page`: the one the fixtures attached, or a new one for a page made by
    hand (it sees errors from then on)."""
    collector = _collectors.get(page)
    if collector is None:
        collector = _collectors[page] = JavaScriptErrors(page)
    return collector
