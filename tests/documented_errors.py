"""Every error the API answers in the suite is documented for its route.

The in-process API of every test (`tests/conftest.py`'s `_LifespanClient`) runs behind `RECORDER`,
an ASGI wrapper that notes each error answer as (method, route template, status, problem code).
At the end of the session `undocumented` compares them with the OpenAPI schema: the route's
operation must list the status among its responses and the code in its `x-problem-codes`. An
answer on no documented route (an unknown path, a method the path does not take, the console's
pages) is not an API operation's, and is left alone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Seen = tuple[str, str, int, str]  # method, route template, status, problem code


@dataclass
class Recorder:
    """What the suite's API answered with, and the first test that saw each answer."""

    seen: dict[Seen, str] = field(default_factory=dict)
    planting: bool = False

    def wrap(self, app: Any) -> ASGIApp:
        return _Recording(app, self)

    @contextmanager
    def planted(self) -> Iterator[None]:
        """Answers a test plants (a store patched to fail as the route never does) are not the
        route's: not noted."""
        self.planting = True
        try:
            yield
        finally:
            self.planting = False

    def note(self, method: str, template: str, status: int, code: str) -> None:
        if self.planting:
            return
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        self.seen.setdefault((method, template, status, code), test)


RECORDER = Recorder()


class _Recording:
    """The app, its error answers noted; anything else (`state`, say) is the app's."""

    def __init__(self, app: Any, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        template = _route_of(app, scope)
        status = 0
        is_problem = False
        chunks: list[bytes] = []

        async def noting_send(message: Message) -> None:
            nonlocal status, is_problem
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", []))
                is_problem = headers.get(b"content-type", b"").startswith(
                    b"application/problem+json"
                )
            elif message["type"] == "http.response.body" and status >= 400 and is_problem:
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await app(scope, receive, noting_send)
        finally:
            if template is not None and status >= 400:
                self.recorder.note(scope["method"], template, status, _code_of(b"".join(chunks)))


_TEMPLATES: list[tuple[re.Pattern[str], str]] = []


def _route_of(app: Any, scope: Scope) -> str | None:
    """The template of the documented path the request is for, whether or not the app got as far
    as routing it (the body limit and the Idempotency-Key answer before that). A literal path
    wins over a template (`/v1/mfa/enrolment/confirm` is not an id)."""
    if not _TEMPLATES:
        templates = sorted(app.openapi()["paths"], key=lambda t: (t.count("{"), t))
        _TEMPLATES.extend(
            (re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t))), t) for t in templates
        )
    for pattern, template in _TEMPLATES:
        if pattern.fullmatch(scope["path"]):
            return template
    return None


def _code_of(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return "(no problem document)"
    code = document.get("code") if isinstance(document, dict) else None
    return code if isinstance(code, str) else "(no code)"


def undocumented(schema: dict[str, Any], seen: Iterable[tuple[Seen, str]]) -> list[str]:
    """Each answer whose status or code the route's operation does not document, with the test
    that saw it."""
    missing = []
    for (method, template, status, code), test in sorted(seen):
        operation = schema["paths"].get(template, {}).get(method.lower())
        if operation is None:
            continue
        response = operation["responses"].get(str(status))
        if response is None:
            missing.append(
                f"{method} {template}: status {status} ({code}) is not documented; {test}"
            )
        elif code not in response.get("x-problem-codes", ()):
            missing.append(f"{method} {template}: {status} {code} is not documented; {test}")
    return missing
