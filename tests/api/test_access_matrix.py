"""Every route × every kind of caller, from the app's own OpenAPI schema.

A row says what each caller gets. A route the schema has and this table lacks fails the suite, so
a new route cannot ship without deciding who may call it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest

from server.app import create_app
from tests.factories import bearer

pytestmark = pytest.mark.devserver

CALLERS = (
    "no_token",
    "revoked_token",
    "operator",
    "partner_admin",
    "partner_user_without_permission",
    "other_partner",
    "distributor_of_the_partner",
    "customer_service",
    "customer_user",
    "partner_service",
    "other_customer",
)


def row(**statuses: int) -> dict[str, int]:
    """Statuses by caller; callers without a token (or with a revoked one) get 401 unless said."""
    expected = {"no_token": 401, "revoked_token": 401, **statuses}
    assert set(expected) == set(CALLERS), set(CALLERS) - set(expected)
    return expected


def admin(success: int) -> dict[str, int]:
    return row(
        operator=success, partner_admin=403, partner_user_without_permission=403, other_partner=403,
        distributor_of_the_partner=403, customer_service=403, customer_user=403,
        partner_service=403, other_customer=403,
    )  # fmt: skip


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


# A world: distributor D over reseller P; P's customer C; association A between P and C; a
# pending request R that C submitted (so P is the counterpart); N, a notification to P.
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/v1/associations"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=200, other_customer=200,
        customer_user=200, partner_service=200),
    ("GET", "/v1/associations/{association_id}"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=200, customer_service=200, other_customer=404,
        customer_user=200, partner_service=200),
    ("POST", "/v1/disassociation-checks"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=200, other_customer=404,
        customer_user=200, partner_service=200),
    ("POST", "/v1/disassociations"): row(
        operator=403, partner_admin=201, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=201, other_customer=404,
        customer_user=201, partner_service=201),
    ("GET", "/v1/disassociations"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=200, other_customer=200,
        customer_user=200, partner_service=200),
    ("GET", "/v1/disassociations/{request_id}"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=200, customer_service=200, other_customer=404,
        customer_user=200, partner_service=200),
    ("POST", "/v1/disassociations/{request_id}/agree"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=403, other_customer=404,
        customer_user=403, partner_service=200),
    ("POST", "/v1/disassociations/{request_id}/reject"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=403, other_customer=404,
        customer_user=403, partner_service=200),
    ("POST", "/v1/disassociations/{request_id}/withdraw"): row(
        operator=403, partner_admin=403, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=200, other_customer=404,
        customer_user=200, partner_service=403),
    ("POST", "/v1/type-change-checks"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=200, other_customer=404,
        customer_user=200, partner_service=200),
    ("POST", "/v1/type-changes"): row(
        operator=403, partner_admin=201, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=201, other_customer=404,
        customer_user=201, partner_service=201),
    ("GET", "/v1/type-changes"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=200, other_customer=200,
        customer_user=200, partner_service=200),
    ("GET", "/v1/type-changes/{request_id}"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=200, customer_service=200, other_customer=404,
        customer_user=200, partner_service=200),
    ("POST", "/v1/type-changes/{request_id}/agree"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=403, other_customer=404,
        customer_user=403, partner_service=200),
    ("POST", "/v1/type-changes/{request_id}/reject"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=403, other_customer=404,
        customer_user=403, partner_service=200),
    ("POST", "/v1/type-changes/{request_id}/withdraw"): row(
        operator=403, partner_admin=403, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=200, other_customer=404,
        customer_user=200, partner_service=403),
    # A partner change the customer C asked, to the other partner O (so O is the new partner).
    ("POST", "/v1/partner-change-checks"): row(
        operator=403, partner_admin=403, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=200, other_customer=404,
        customer_user=200, partner_service=403),
    ("POST", "/v1/partner-changes"): row(
        operator=403, partner_admin=403, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=403, customer_service=201, other_customer=404,
        customer_user=201, partner_service=403),
    ("GET", "/v1/partner-changes"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=200, other_customer=200,
        customer_user=200, partner_service=200),
    ("GET", "/v1/partner-changes/{request_id}"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=200, other_customer=404,
        customer_user=200, partner_service=200),
    ("POST", "/v1/partner-changes/{request_id}/agree"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=403,
        distributor_of_the_partner=403, customer_service=403, other_customer=404,
        customer_user=403, partner_service=200),
    ("POST", "/v1/partner-changes/{request_id}/reject"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=403,
        distributor_of_the_partner=403, customer_service=403, other_customer=404,
        customer_user=403, partner_service=200),
    ("POST", "/v1/partner-changes/{request_id}/accept"): row(
        operator=403, partner_admin=403, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=403, customer_service=403, other_customer=404,
        customer_user=403, partner_service=403),
    ("POST", "/v1/partner-changes/{request_id}/decline"): row(
        operator=403, partner_admin=403, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=403, customer_service=403, other_customer=404,
        customer_user=403, partner_service=403),
    ("POST", "/v1/partner-changes/{request_id}/withdraw"): row(
        operator=403, partner_admin=403, partner_user_without_permission=403, other_partner=403,
        distributor_of_the_partner=403, customer_service=200, other_customer=404,
        customer_user=200, partner_service=403),
    ("GET", "/v1/association-records"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=200, other_customer=200,
        customer_user=200, partner_service=200),
    ("POST", "/v1/verification-codes"): everyone(410),  # gone: people have authenticators now
    # A person's own MFA; an account's service token has none.
    ("GET", "/v1/mfa/enrolment"): row(
        operator=403, partner_admin=200, partner_user_without_permission=200, other_partner=200,
        distributor_of_the_partner=200, customer_service=403, other_customer=200,
        customer_user=200, partner_service=403),
    ("POST", "/v1/mfa/enrolment"): row(
        operator=403, partner_admin=201, partner_user_without_permission=201, other_partner=201,
        distributor_of_the_partner=201, customer_service=403, other_customer=201,
        customer_user=201, partner_service=403),
    ("POST", "/v1/mfa/enrolment/confirm"): row(
        operator=403, partner_admin=409, partner_user_without_permission=409, other_partner=409,
        distributor_of_the_partner=409, customer_service=403, other_customer=409,
        customer_user=409, partner_service=403),
    # The account's settings and webhooks, read as well as written: its admins' (a partner's
    # `admin`, a customer's people), never a service token's.
    ("GET", "/v1/settings"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=403, other_customer=200,
        customer_user=200, partner_service=403),
    ("PATCH", "/v1/settings"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=403, other_customer=200,
        customer_user=200, partner_service=403),
    # The message center tells of associations: `associations:read`, as the associations.
    ("GET", "/v1/notifications"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=200, other_customer=200,
        customer_user=200, partner_service=200),
    ("POST", "/v1/notifications/{notification_id}/read"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=404, customer_service=404, other_customer=404,
        customer_user=404, partner_service=200),
    ("POST", "/v1/webhook-endpoints"): row(
        operator=403, partner_admin=201, partner_user_without_permission=403, other_partner=201,
        distributor_of_the_partner=201, customer_service=403, other_customer=201,
        customer_user=201, partner_service=403),
    # The role is judged before the endpoint is looked up: who may not run an account learns
    # nothing of any endpoint (403); another account's admins find it not found (404).
    ("GET", "/v1/webhook-endpoints"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=200,
        distributor_of_the_partner=200, customer_service=403, other_customer=200,
        customer_user=200, partner_service=403),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=404, customer_service=403, other_customer=404,
        customer_user=404, partner_service=403),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): row(
        operator=403, partner_admin=204, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=404, customer_service=403, other_customer=404,
        customer_user=404, partner_service=403),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): row(
        operator=403, partner_admin=200, partner_user_without_permission=403, other_partner=404,
        distributor_of_the_partner=404, customer_service=403, other_customer=404,
        customer_user=404, partner_service=403),
    ("GET", "/v1/admin/partners"): admin(200),
    ("POST", "/v1/admin/partners"): admin(201),
    ("GET", "/v1/admin/partners/{partner_id}"): admin(200),
    ("PATCH", "/v1/admin/partners/{partner_id}"): admin(200),
    ("POST", "/v1/admin/partners/{partner_id}/users"): admin(201),
    ("POST", "/v1/admin/customers"): admin(201),
    ("POST", "/v1/admin/customers/{customer_id}/users"): admin(201),
    ("DELETE", "/v1/admin/people/{person_id}/mfa"): admin(204),
    ("POST", "/v1/admin/people/{person_id}/invitation"): admin(201),
    ("GET", "/v1/admin/customers/{customer_id}"): admin(200),
    ("PUT", "/v1/admin/customers/{customer_id}/standing"): admin(200),
    ("GET", "/v1/admin/customers/{customer_id}/standing"): admin(200),
    ("POST", "/v1/admin/associations"): admin(201),
    ("GET", "/v1/admin/associations/{association_id}"): admin(200),
    ("PATCH", "/v1/admin/associations/{association_id}"): admin(200),
    ("POST", "/v1/admin/tokens"): admin(201),
    ("GET", "/v1/admin/tokens"): admin(200),
    ("DELETE", "/v1/admin/tokens/{token_id}"): admin(204),
    ("GET", "/v1/admin/audit-log"): admin(200),
    ("POST", "/v1/admin/disassociations/{request_id}/agree"): admin(200),
    ("POST", "/v1/admin/disassociations/{request_id}/reject"): admin(200),
    ("POST", "/v1/admin/disassociations/{request_id}/cancel"): admin(200),
    ("POST", "/v1/admin/type-changes/{request_id}/agree"): admin(200),
    ("POST", "/v1/admin/type-changes/{request_id}/reject"): admin(200),
    ("POST", "/v1/admin/type-changes/{request_id}/cancel"): admin(200),
    ("POST", "/v1/admin/partner-changes/{request_id}/cancel"): admin(200),
    ("GET", "/healthz"): everyone(200),
    ("GET", "/metrics"): everyone(200),
    ("GET", "/readyz"): everyone(200),
}  # fmt: skip

BODIES = {
    ("POST", "/v1/disassociation-checks"): lambda w: {"association_id": str(w.association_id)},
    ("POST", "/v1/disassociations"): lambda w: {
        "association_id": str(w.association_id), "reason": "matrix", "acknowledged": True},
    ("POST", "/v1/disassociations/{request_id}/reject"): lambda w: {"reason": "matrix"},
    ("POST", "/v1/type-change-checks"): lambda w: {
        "association_id": str(w.association_id), "new_type": "referral"},
    ("POST", "/v1/type-changes"): lambda w: {
        "association_id": str(w.association_id), "new_type": "referral", "reason": "matrix",
        "acknowledged": True},
    ("POST", "/v1/type-changes/{request_id}/reject"): lambda w: {"reason": "matrix"},
    ("POST", "/v1/admin/type-changes/{request_id}/reject"): lambda w: {"reason": "matrix"},
    ("POST", "/v1/admin/type-changes/{request_id}/cancel"): lambda w: {"reason": "matrix"},
    ("POST", "/v1/partner-change-checks"): lambda w: {
        "association_id": str(w.association_id), "new_partner_id": str(w.other_partner_id)},
    ("POST", "/v1/partner-changes"): lambda w: {
        "association_id": str(w.association_id), "new_partner_id": str(w.other_partner_id),
        "reason": "matrix", "acknowledged": True},
    ("POST", "/v1/partner-changes/{request_id}/reject"): lambda w: {"reason": "matrix"},
    ("POST", "/v1/partner-changes/{request_id}/decline"): lambda w: {"reason": "matrix"},
    ("POST", "/v1/admin/partner-changes/{request_id}/cancel"): lambda w: {"reason": "matrix"},
    ("POST", "/v1/verification-codes"): lambda w: {"purpose": "disassociation.submit"},
    ("POST", "/v1/mfa/enrolment/confirm"): lambda w: {"code": "123456"},
    ("POST", "/v1/admin/customers/{customer_id}/users"): lambda w: {
        "name": "matrix", "email": f"{uuid.uuid4().hex}@matrix.test"},
    ("PATCH", "/v1/settings"): lambda w: {"verification_required": True},
    ("POST", "/v1/webhook-endpoints"): lambda w: {"url": "http://127.0.0.1:9/hooks"},
    ("POST", "/v1/admin/partners"): lambda w: {"name": "matrix", "type": "reseller"},
    ("PATCH", "/v1/admin/partners/{partner_id}"): lambda w: {"frozen": False},
    ("POST", "/v1/admin/partners/{partner_id}/users"): lambda w: {
        "name": "m", "email": f"{uuid.uuid4().hex}@matrix.test", "permissions": ["admin"]},
    ("POST", "/v1/admin/customers"): lambda w: {"name": "matrix"},
    ("PUT", "/v1/admin/customers/{customer_id}/standing"): lambda w: {"unused_vouchers": 0},
    ("POST", "/v1/admin/associations"): lambda w: {
        "partner_id": str(w.partner_id), "customer_id": str(w.free_customer_id),
        "association_type": "referral"},
    ("PATCH", "/v1/admin/associations/{association_id}"): lambda w: {"association_type": "resale"},
    ("POST", "/v1/admin/tokens"): lambda w: {"subject_kind": "customer", "subject_id": str(w.customer_id)},
    ("POST", "/v1/admin/disassociations/{request_id}/reject"): lambda w: {"reason": "matrix"},
    ("POST", "/v1/admin/disassociations/{request_id}/cancel"): lambda w: {"reason": "matrix"},
}  # fmt: skip


@dataclass
class MatrixWorld:
    tokens: dict[str, str | None]
    association_id: object
    partner_id: object
    customer_id: object
    free_customer_id: object
    person_id: object
    other_partner_id: object = None
    request_id: object | None = None
    notification_id: object | None = None
    token_id: object | None = None
    endpoint_id: object | None = None


async def build(factory, api, path: str) -> MatrixWorld:
    w = await factory.world()
    _, no_permission = await factory.user(w.partner_id, [])
    other_partner = await factory.partner()
    _, other_partner_admin = await factory.user(other_partner, ["admin"])
    other_customer_id, _ = await factory.customer()
    _, other_customer = await factory.customer_user(other_customer_id)
    free_customer, _ = await factory.customer()
    _, customer_user = await factory.customer_user(w.customer_id)
    partner_service = await factory.token("partner_service", w.partner_id)
    revoked = await factory.token("partner_user", w.partner_admin_id)
    async with factory.pool.connection() as conn:
        await conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = sha256(%s::bytea)",
            (revoked.encode(),),
        )
    world = MatrixWorld(
        tokens={
            "no_token": None, "revoked_token": revoked, "operator": "test-operator-token",
            "partner_admin": w.partner_admin, "partner_user_without_permission": no_permission,
            "other_partner": other_partner_admin, "distributor_of_the_partner": w.distributor_admin,
            "customer_service": w.customer, "customer_user": customer_user,
            "partner_service": partner_service, "other_customer": other_customer,
        },
        association_id=w.association_id, partner_id=w.partner_id, customer_id=w.customer_id,
        free_customer_id=free_customer, person_id=w.partner_admin_id,
        other_partner_id=other_partner,
    )  # fmt: skip
    if "{request_id}" in path or "{notification_id}" in path:
        # The request of the route's kind, by the customer: the partner is the counterpart.
        submits = next(
            (f"/v1/{kind}" for kind in ("type-changes", "partner-changes") if kind in path),
            "/v1/disassociations",
        )
        submitted = await api.post(
            submits, json=BODIES[("POST", submits)](world), headers=bearer(w.customer)
        )
        world.request_id = submitted.json()["id"]
        [note] = await factory.fetch(
            "SELECT id FROM notifications WHERE request_id = %s AND recipient_kind = 'partner'"
            " AND recipient_id = %s",
            world.request_id,
            w.partner_id,
        )
        world.notification_id = note["id"]
    if "{endpoint_id}" in path:
        created = await api.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/hooks"},
            headers=bearer(w.partner_admin),
        )
        world.endpoint_id = created.json()["id"]
    if "{token_id}" in path:
        [token] = await factory.fetch(
            "SELECT id FROM api_tokens WHERE subject_id = %s LIMIT 1", str(w.customer_id)
        )
        world.token_id = token["id"]
    return world


async def call(api, method: str, path: str, world: MatrixWorld, caller: str):
    url = re.sub(r"\{(\w+)\}", lambda m: str(getattr(world, m.group(1))), path)
    token = world.tokens[caller]
    body = BODIES.get((method, path))
    return await api.request(
        method, url, json=body(world) if body else None, headers=bearer(token) if token else {}
    )


def test_every_route_has_a_row():
    schema = create_app().openapi()
    routes = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    assert routes - set(EXPECTED) == set(), "routes without a row in the access matrix"
    assert set(EXPECTED) - routes == set(), "rows for routes that no longer exist"


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED), ids=lambda v: v)
async def test_access(api, factory, method, path):
    expected = EXPECTED[(method, path)]
    mutating = method != "GET"
    world = await build(factory, api, path)
    got = {}
    # Refusals change nothing, so they share a world; each success on a mutating route gets a
    # fresh one, so that one caller's success does not decide the next caller's answer.
    for caller in sorted(CALLERS, key=lambda c: expected[c] < 300):
        if mutating and expected[caller] < 300:
            world = await build(factory, api, path)
        got[caller] = (await call(api, method, path, world, caller)).status_code
    assert got == expected
