"""A console address is found among the console's own routes, without trying the JSON API's first
(console/app.py `ConsoleFirst`), and to the same route the app's whole list would find."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match

from assocflow.settings import Settings
from console.app import _CHOSEN, ConsoleFirst
from server.app import create_app

APP = create_app(Settings())
FIRST, REST = APP.router.routes[0], APP.router.routes[1:]


def _scope(path: str, method: str = "GET") -> dict:
    return {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}


def _found_by_the_whole_list(scope: dict) -> BaseRoute | None:
    for route in REST:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def _console_addresses() -> list[tuple[str, str]]:
    """Every console page's address (its parameters filled in) with each of its methods."""
    assert isinstance(FIRST, ConsoleFirst)
    found = []
    for router in FIRST.routers:
        for route in router.original_router.routes:  # type: ignore[attr-defined]
            assert isinstance(route, APIRoute)
            path = re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), route.path)
            found += [(method, path) for method in sorted(route.methods)]
    return found


@pytest.mark.parametrize(("method", "path"), _console_addresses())
def test_a_console_page_is_found_first_and_is_the_route_the_whole_list_finds(method, path):
    scope = _scope(path, method)
    match, child_scope = FIRST.matches(scope)
    assert match is Match.FULL
    assert child_scope[_CHOSEN] is _found_by_the_whole_list(scope)


@pytest.mark.parametrize(
    "path",
    ["/v1/associations", "/v1/association-records", "/healthz", "/metrics", "/consoles",
     "/console/static/console.js", "/console/no-such-page"],
)  # fmt: skip
def test_what_is_not_a_console_page_is_left_to_the_whole_list(path):
    match, _ = FIRST.matches(_scope(path))
    assert match is Match.NONE
