"""How long the app takes to find the route of an address: the search FastAPI's router makes
before any route runs (each route's `matches`, in the app's order, until one matches fully),
timed in-process for console pages and API calls, with the console's pages found first
(console/app.py `ConsoleFirst`) and without (the same list, that route left out)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.routing import BaseRoute, Match

from assocflow.settings import Settings
from server.app import create_app

AN_ID = str(uuid.uuid4())
ADDRESSES = {
    "console: records": ("GET", "/console/records"),
    "console: Customer Management": ("GET", "/console/customers"),
    "console: a request's page": ("GET", f"/console/requests/{AN_ID}"),
    "console: message center": ("GET", "/console/messages"),
    "API: submit a disassociation": ("POST", "/v1/disassociations"),
    "API: agree": ("POST", f"/v1/disassociations/{AN_ID}/agree"),
    "API: records": ("GET", "/v1/association-records"),
    "API: associations": ("GET", "/v1/associations"),
}


def _search(routes: list[BaseRoute], scope: dict[str, Any]) -> BaseRoute:
    scope = dict(scope)  # one request's scope, handed to each route in turn as the router does
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    raise LookupError(scope["path"])


def _us_per_search(routes: list[BaseRoute], scope: dict[str, Any], repeat: int) -> float:
    _search(routes, scope)
    started = time.perf_counter()
    for _ in range(repeat):
        _search(routes, scope)
    return round((time.perf_counter() - started) / repeat * 1e6, 1)


def run(repeat: int, rounds: int) -> dict[str, Any]:
    routes = create_app(Settings()).router.routes
    without = routes[1:]  # the app's list as it was before ConsoleFirst went first
    found: dict[str, dict[str, float]] = {}
    for name, (method, path) in ADDRESSES.items():
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        first, rest = [], []
        for _ in range(rounds):  # alternating, the median kept
            first.append(_us_per_search(routes, scope, repeat))
            rest.append(_us_per_search(without, scope, repeat))
        found[name] = {
            "us_console_first": sorted(first)[rounds // 2],
            "us_without": sorted(rest)[rounds // 2],
        }
    return {"repeat": repeat, "rounds": rounds, "routes": len(routes), "addresses": found}
