"""Metrics move with a request's lifecycle: the API's on /metrics, the worker's (Temporal SDK and
business counters) on its Prometheus endpoint."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable

import httpx
import pytest

from domain.types import AccountStanding
from tests.api.test_disassociations import decide, submit

pytestmark = pytest.mark.devserver


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels` (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def moved_between(before: str, after: str) -> Callable[..., float]:
    """`moved(name, **labels)`: how far a metric's samples whose labels include `labels` moved
    between two scrapes."""

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    return moved


async def scrape(url: str) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).text


async def test_api_metrics_count_requests_by_route_status_and_outcome(api, factory):
    world = await factory.world()
    failing = await factory.world(standing=AccountStanding(currency_set=False))
    before = (await api.get("/metrics")).text
    request = (await submit(api, world.customer, world.association_id)).json()
    await submit(api, failing.customer, failing.association_id)
    await api.get(
        f"/v1/disassociations/{request['id']}",
        headers={"Authorization": f"Bearer {world.customer}"},
    )
    await api.get("/v1/no-such-route")
    after = (await api.get("/metrics")).text
    route = {"method": "POST", "route": "/v1/disassociations"}
    moved = moved_between(before, after)

    assert moved("assocflow_http_requests_total", **route, status="201") == 1
    assert moved("assocflow_http_requests_total", **route, status="422") == 1
    assert moved("assocflow_http_request_duration_seconds_count", **route) == 2
    assert moved("assocflow_submissions_total", initiator="customer", result="accepted") == 1
    assert moved("assocflow_submissions_total", initiator="customer", result="check_failed") == 1
    # Paths with ids are counted by their template, not one series per id.
    templated = {"method": "GET", "route": "/v1/disassociations/{request_id}", "status": "200"}
    assert moved("assocflow_http_requests_total", **templated) == 1
    assert (
        moved("assocflow_http_requests_total", method="GET", route="unmatched", status="404") == 1
    )
    assert request["id"] not in after


async def test_console_pages_are_counted_by_their_route_too(api):
    """The console's pages pass through its CSRF middlewares, which hand a copy of the request's
    scope inward: their route is counted all the same, not as "unmatched"."""
    before = (await api.get("/metrics")).text
    await api.get("/console/sign-in")
    await api.get(f"/console/requests/{uuid.uuid4()}")  # not signed in: sent to sign in
    after = (await api.get("/metrics")).text

    moved = moved_between(before, after)
    counted = "assocflow_http_requests_total"
    assert moved(counted, method="GET", route="/console/sign-in") == 1
    assert moved(counted, method="GET", route="/console/requests/{request_id}") == 1
    assert moved(counted, method="GET", route="unmatched") == 0


async def test_worker_metrics_follow_the_lifecycle(api, factory, dev_worker, worker_metrics_url):
    world = await factory.world()
    before = await scrape(worker_metrics_url)
    request = (await submit(api, world.customer, world.association_id)).json()
    await decide(api, world.partner_admin, request["id"], "agree")
    await asyncio.sleep(1.5)  # the runtime exports metrics periodically
    after = await scrape(worker_metrics_url)
    moved = moved_between(before, after)

    assert moved("assocflow_requests_accepted", initiator="customer") == 1
    assert moved("assocflow_requests_settled", initiator="customer", outcome="agreed") == 1
    assert (
        moved("assocflow_decision_latency_seconds_count", initiator="customer", outcome="agreed")
        == 1
    )
    assert moved("assocflow_decision_latency_seconds_bucket", outcome="agreed", le="60") == 1
    # The Temporal SDK's own metrics come from the same endpoint.
    assert "temporal_workflow_completed" in after or "temporal_request" in after


async def test_readiness_fails_while_temporal_is_unreachable(settings):
    from assocflow.temporal import connect
    from devstack import services
    from tests.conftest import api_client

    nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{services.free_port()}"})
    unreachable = await connect(nowhere, lazy=True)
    async with api_client(nowhere, unreachable) as api:
        assert (await api.get("/healthz")).status_code == 200
        ready = await api.get("/readyz")
    assert ready.status_code == 503 and ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["code"] == "not_ready"
    assert ready.json()["checks"]["postgres"] == "ok"
    assert ready.json()["checks"]["temporal"].startswith("unavailable")
