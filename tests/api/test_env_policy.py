"""The SPEC's env vars reach a request through the API: a short window and the configured
outcome, in real time on the dev server."""

from __future__ import annotations

import asyncio

import pytest

from assocflow.settings import Settings
from tests.api.test_disassociations import submit
from tests.conftest import api_client
from tests.factories import bearer

pytestmark = pytest.mark.devserver


async def wait_settled(api, token, request_id, seconds=15.0) -> dict:
    for _ in range(int(seconds / 0.1)):
        seen = (await api.get(f"/v1/disassociations/{request_id}", headers=bearer(token))).json()
        if seen["status"] != "pending":
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} still pending after {seconds}s")


async def test_env_vars_set_the_window_and_the_outcome_per_initiator(
    monkeypatch, database_url, task_queue, dev_env, dev_worker, factory
):
    monkeypatch.setenv("ASSOCFLOW_RESPONSE_WINDOW", "PT2S")
    monkeypatch.setenv("ASSOCFLOW_ON_TIMEOUT_CUSTOMER", "expire")
    monkeypatch.setenv("ASSOCFLOW_ON_TIMEOUT_PARTNER", "auto_agree")
    settings = Settings(database_url=database_url, task_queue=task_queue)
    by_customer, by_partner = await factory.world(), await factory.world()
    async with api_client(settings, dev_env.client) as api:
        customer_request = (
            await submit(api, by_customer.customer, by_customer.association_id)
        ).json()
        partner_request = (
            await submit(api, by_partner.partner_admin, by_partner.association_id)
        ).json()
        customer_final = await wait_settled(api, by_customer.customer, customer_request["id"])
        partner_final = await wait_settled(api, by_partner.partner_admin, partner_request["id"])
    assert customer_final["status"] == "expired"
    assert partner_final["status"] == "auto_agreed"
    assert customer_final["decided_by"] == partner_final["decided_by"] == "system:assocflow"
    ended = await factory.fetch(
        "SELECT id, status FROM associations WHERE id IN (%s, %s)",
        by_customer.association_id,
        by_partner.association_id,
    )
    assert {r["id"]: r["status"] for r in ended} == {
        by_customer.association_id: "active",
        by_partner.association_id: "ended",
    }
