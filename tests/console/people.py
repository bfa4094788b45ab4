"""The people who click through the console in tests: made by an operator, with a password set
by their invitation (the real use cases), an authenticator when wanted, and a way to sign in."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Page, expect
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from application import mfa, sessions
from application.identity import identify
from application.principal import Principal
from application.services import Services
from assocflow.settings import Settings
from store.accounts import PostgresStanding
from tests.factories import Factory, bearer
from tests.mfa import Authenticator, Clock
from workflows.gateway import Gateway

OPERATOR_TOKEN = "test-operator-token"


@dataclass
class Person:
    id: UUID
    email: str
    password: str
    token: str  # for setting things up through the API
    app: Authenticator | None = None


@dataclass
class PeopleWorld:
    distributor_id: UUID
    partner_id: UUID
    customer_id: UUID
    association_id: UUID
    customer_name: str
    partner_name: str
    partner_admin: Person
    partner_reader: Person
    customer_person: Person


class People:
    def __init__(self, factory: Factory, svc: Services, clock: Clock, api: str) -> None:
        self._factory = factory
        self._svc = svc
        self._clock = clock
        self._api = api

    async def partner_admin(self, *, enrolled: bool = False) -> Person:
        partner = await self._factory.partner()
        return await self._partner_person(partner, ["admin"], enrolled=enrolled)

    async def partner_person(self, partner: UUID, permissions: list[str]) -> Person:
        return await self._partner_person(partner, permissions)

    async def world(
        self, *, standing: dict[str, Any] | None = None, partner_type: str = "reseller"
    ) -> PeopleWorld:
        """A reseller (or `partner_type`) under a distributor, a customer associated with it, and
        a person of each with a password."""
        distributor = await self._factory.partner("distributor")
        partner = await self._factory.partner(partner_type, parent=distributor)
        customer_id, _ = await self._factory.customer()
        association = await self._factory.association(partner, customer_id)
        if standing:
            async with httpx.AsyncClient(base_url=self._api, headers=bearer(OPERATOR_TOKEN)) as op:
                put = await op.put(f"/v1/admin/customers/{customer_id}/standing", json=standing)
                assert put.status_code == 200, put.text
        [names] = await self._factory.fetch(
            "SELECT (SELECT name FROM partners WHERE id = %s) AS p,"
            " (SELECT name FROM customers WHERE id = %s) AS c",
            partner,
            customer_id,
        )
        return PeopleWorld(
            distributor_id=distributor,
            partner_id=partner,
            customer_id=customer_id,
            association_id=association,
            customer_name=names["c"],
            partner_name=names["p"],
            partner_admin=await self._partner_person(partner, ["admin"]),
            partner_reader=await self._partner_person(partner, ["associations:read"]),
            customer_person=await self._customer_person(customer_id),
        )

    async def pending_request(self, world: PeopleWorld, *, initiator: str) -> UUID:
        person = world.customer_person if initiator == "customer" else world.partner_admin
        async with httpx.AsyncClient(base_url=self._api, timeout=30) as api:
            submitted = await api.post(
                "/v1/disassociations",
                json={
                    "association_id": str(world.association_id),
                    "reason": "Set up by the test",
                    "acknowledged": True,
                },
                headers=bearer(person.token),
            )
        assert submitted.status_code == 201, submitted.text
        return UUID(submitted.json()["id"])

    async def _partner_person(
        self, partner: UUID, permissions: list[str], *, enrolled: bool = False
    ) -> Person:
        person_id, token = await self._factory.user(partner, permissions)
        return await self._with_password(person_id, token, enrolled=enrolled)

    async def _customer_person(self, customer: UUID) -> Person:
        person_id, token = await self._factory.customer_user(customer)
        return await self._with_password(person_id, token)

    async def _with_password(
        self, person_id: UUID, token: str, *, enrolled: bool = False
    ) -> Person:
        """The person as an operator's invitation leaves them: a password they chose."""
        [row] = await self._factory.fetch("SELECT email FROM people WHERE id = %s", person_id)
        operator = Principal(kind="operator", subject_id="tests")
        invitation = await sessions.invite(self._svc, operator, person_id)
        password = f"correct horse {uuid.uuid4().hex[:10]}"
        invitation_token = invitation.url.rsplit("/", 1)[-1]
        await sessions.accept_invitation(self._svc, invitation_token, password, client="tests")
        person = Person(person_id, row["email"], password, token)
        if enrolled:
            person.app = await self._enrol(person)
        return person

    async def _enrol(self, person: Person) -> Authenticator:
        async with self._svc.pool.connection() as conn:
            found = await identify(self._svc.settings, conn, person.token)
        assert found is not None
        enrolment = await mfa.begin_enrolment(self._svc, found)
        app = Authenticator(enrolment.otpauth_uri)
        await mfa.confirm_enrolment(self._svc, found, app.code(self._clock.at))
        self._clock.tick()  # the next code is a fresh one
        return app


async def sign_in(page: Page, person: Person) -> None:
    """Sign in through the sign-in page, as the person would (no authenticator)."""
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(person.email)
    await page.get_by_label("Password").fill(person.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).not_to_have_url(re.compile(r"/console/sign-in"))


@pytest.fixture
async def people(
    factory: Factory,
    pool: AsyncConnectionPool,
    dev_env: WorkflowEnvironment,
    console_settings: Settings,
    console_server: str,
    clock: Clock,
) -> People:
    svc = Services(
        pool=pool,
        temporal=Gateway(dev_env.client, console_settings.task_queue),
        settings=console_settings,
        standing=PostgresStanding(pool),
    )
    return People(factory, svc, clock, console_server)


@pytest.fixture
async def operator(console_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=console_server, headers=bearer(OPERATOR_TOKEN), timeout=30
    ) as client:
        yield client
