"""Webhooks end to end with a real HTTP receiver: signed per Standard Webhooks, retried with the
same webhook-id until delivered, disabled by 410, never on private addresses unless allowed, and
never in the way of a decision."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import uuid
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from store import notifications
from store import webhooks as store_webhooks
from tests.api.test_disassociations import assert_problem, decide, submit
from tests.conftest import api_client, make_settings
from tests.factories import bearer
from tests.receiver import Receiver

pytestmark = pytest.mark.devserver


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


async def register(api, token, url, **extra) -> dict:
    response = await api.post(
        "/v1/webhook-endpoints", json={"url": url, **extra}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def eventually(check, seconds: float = 20.0):
    for _ in range(int(seconds / 0.05)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def deliveries(api, token, endpoint_id) -> list[dict]:
    page = await api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=bearer(token))
    assert page.status_code == 200, page.text
    return page.json()["items"]


async def test_a_delivery_is_signed_and_verifies_with_the_receivers_secret(
    api, relay, factory, receiver
):
    world = await factory.world()
    endpoint = await register(api, world.customer_person, receiver.url)
    assert endpoint["secret"].startswith("whsec_") and endpoint["enabled"] is True
    assert (
        "secret"
        not in (
            await api.get(
                f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(world.customer_person)
            )
        ).json()
    )
    request = (await submit(api, world.partner_admin, world.association_id)).json()

    await eventually(lambda: asyncio.sleep(0, receiver.received))
    [got] = receiver.received
    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "disassociation.requested"
    assert payload["data"]["request"]["id"] == request["id"]
    [note] = await factory.fetch(
        "SELECT id FROM notifications WHERE request_id = %s AND recipient_kind = 'customer'",
        request["id"],
    )
    assert got.headers["webhook-id"] == f"msg_{note['id'].hex}"
    with pytest.raises(WebhookVerificationError):  # another secret does not verify it
        Webhook("whsec_" + "A" * 32).verify(got.body, got.headers)
    [delivery] = await eventually(lambda: _delivered(api, world.customer_person, endpoint["id"]))
    assert delivery["webhook_id"] == got.headers["webhook-id"] and delivery["attempts"] == 1


async def _delivered(api, token, endpoint_id):
    items = await deliveries(api, token, endpoint_id)
    return items if items and all(d["status"] == "delivered" for d in items) else None


async def test_a_failing_receiver_gets_every_attempt_with_the_same_id_until_it_succeeds(
    api, relay, factory
):
    receiver = Receiver(statuses=[500, 502, 503])
    try:
        world = await factory.world()
        endpoint = await register(api, world.partner_admin, receiver.url)
        await submit(api, world.customer_person, world.association_id)
        [delivery] = await eventually(lambda: _delivered(api, world.partner_admin, endpoint["id"]))
        assert len(receiver.received) == 4
        assert {r.headers["webhook-id"] for r in receiver.received} == {delivery["webhook_id"]}
        assert {r.body for r in receiver.received} == {receiver.received[0].body}
        assert delivery["attempts"] == 4 and delivery["last_status"] == 204
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 502, 503, 204]
        for got in receiver.received:  # each attempt is signed afresh
            Webhook(endpoint["secret"]).verify(got.body, got.headers)
    finally:
        receiver.close()


async def test_410_disables_the_endpoint(api, relay, factory):
    receiver = Receiver(default=410)
    try:
        world = await factory.world()
        endpoint = await register(api, world.customer_person, receiver.url)
        request = (await submit(api, world.partner_admin, world.association_id)).json()

        async def disabled():
            current = await api.get(
                f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(world.customer_person)
            )
            return current.json() if not current.json()["enabled"] else None

        gone = await eventually(disabled)
        assert "410" in gone["disabled_reason"]
        [delivery] = await deliveries(api, world.customer_person, endpoint["id"])
        assert delivery["status"] == "cancelled" and delivery["attempts"] == 1
        await decide(api, world.customer_person, request["id"], "reject", reason="no")
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 1  # nothing more goes to a disabled endpoint
        assert len(await deliveries(api, world.customer_person, endpoint["id"])) == 1
    finally:
        receiver.close()


async def test_a_receiver_that_never_succeeds_is_given_up_on(
    database_url, task_queue, dev_env, dev_worker, factory, pool
):
    from tests.conftest import WEBHOOKS
    from webhooks.relay import WebhookRelay

    settings = make_settings(database_url, task_queue, **{**WEBHOOKS, "webhook_max_attempts": 3})
    receiver = Receiver(default=500)
    relay = WebhookRelay(pool, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        async with api_client(settings, dev_env.client) as api:
            world = await factory.world()
            endpoint = await register(api, world.customer_person, receiver.url)
            await submit(api, world.partner_admin, world.association_id)

            async def failed():
                items = await deliveries(api, world.customer_person, endpoint["id"])
                return items if items and items[0]["status"] == "failed" else None

            [delivery] = await eventually(failed)
            assert delivery["attempts"] == 3 and len(receiver.received) == 3
    finally:
        stop.set()
        await running
        await relay.aclose()
        receiver.close()


async def test_endpoints_only_get_the_events_they_asked_for(api, relay, factory, receiver):
    world = await factory.world()
    await register(
        api, world.customer_person, receiver.url, event_types=["disassociation.rejected"]
    )
    request = (await submit(api, world.partner_admin, world.association_id)).json()
    await decide(api, world.customer_person, request["id"], "reject", reason="not now")
    await eventually(lambda: asyncio.sleep(0, receiver.received))
    await asyncio.sleep(0.3)
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["disassociation.rejected"]


async def test_a_type_change_is_delivered_signed_with_its_types(api, relay, factory, receiver):
    """The partner subscribed to type changes only: it gets the request and, once the customer
    agrees, the outcome and the association's new type, each signed, each carrying the types."""
    world = await factory.world()
    endpoint = await register(
        api, world.partner_admin, receiver.url,
        event_types=["type_change.requested", "type_change.agreed", "association.type_changed"],
    )  # fmt: skip
    body = {"association_id": str(world.association_id), "new_type": "advance_payment",
            "reason": "We pay in advance now", "acknowledged": True}  # fmt: skip
    request = (await api.post("/v1/type-changes", json=body, headers=bearer(world.customer))).json()
    agreed = await api.post(
        f"/v1/type-changes/{request['id']}/agree", json=None, headers=bearer(world.partner_admin)
    )
    assert agreed.json()["status"] == "agreed"
    await submit(api, world.customer, world.association_id)  # a disassociation: not subscribed

    await eventually(lambda: asyncio.sleep(0, len(receiver.received) >= 3))
    await asyncio.sleep(0.3)
    payloads = [Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in receiver.received]
    assert sorted(p["type"] for p in payloads) == [
        "association.type_changed", "type_change.agreed", "type_change.requested",
    ]  # fmt: skip
    for payload in payloads:
        sent = payload["data"]["request"]
        assert sent["id"] == request["id"]
        assert (sent["from_type"], sent["new_type"]) == ("resale", "advance_payment")


async def test_private_and_loopback_urls_are_refused_unless_allowed(
    database_url, task_queue, dev_env, factory
):
    from tests.conftest import WEBHOOKS

    settings = make_settings(
        database_url, task_queue, **{**WEBHOOKS, "webhook_allow_private": False}
    )
    world = await factory.world()
    async with api_client(settings, dev_env.client) as api:
        for url in (
            "http://127.0.0.1:9/hooks", "http://localhost/hooks", "http://10.1.2.3/hooks",
            "http://192.168.0.10/hooks", "http://169.254.169.254/latest", "http://[::1]/hooks",
            "http://[::ffff:127.0.0.1]/hooks", "http://0.0.0.0/hooks", "ftp://example.org/x",
        ):  # fmt: skip
            response = await api.post(
                "/v1/webhook-endpoints", json={"url": url}, headers=bearer(world.customer_person)
            )
            assert_problem(response, 422, "validation_error")
        # A public address is accepted (and nothing is sent to it: no event happens here).
        public = await api.post(
            "/v1/webhook-endpoints",
            json={"url": "https://93.184.215.14/hooks"},
            headers=bearer(world.customer_person),
        )
        assert public.status_code == 201
        await api.delete(
            f"/v1/webhook-endpoints/{public.json()['id']}", headers=bearer(world.customer_person)
        )


async def test_a_decision_never_waits_on_a_webhook(api, relay, factory):
    receiver = Receiver()
    receiver.gate.clear()  # the receiver hangs until released
    try:
        world = await factory.world()
        await register(api, world.customer_person, receiver.url)
        await register(api, world.partner_admin, receiver.url)
        request = (await submit(api, world.customer_person, world.association_id)).json()
        agreed = await decide(api, world.partner_admin, request["id"], "agree")
        assert agreed.status_code == 200 and agreed.json()["status"] == "agreed"
        assert receiver.received == []  # every webhook is still held while the decision is done
    finally:
        receiver.close()


async def test_only_the_owner_sees_and_removes_its_endpoints(api, factory, receiver):
    world, other = await factory.world(), await factory.world()
    endpoint = await register(api, world.partner_admin, receiver.url)
    listed = await api.get("/v1/webhook-endpoints", headers=bearer(world.partner_admin))
    assert [e["id"] for e in listed.json()] == [endpoint["id"]]
    assert_problem(  # the account's admins' alone, reading included
        await api.get("/v1/webhook-endpoints", headers=bearer(world.partner_reader)),
        403,
        "forbidden",
    )
    for token in (other.partner_admin, world.customer_person, world.distributor_admin):
        assert_problem(
            await api.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(token)),
            404,
            "not_found",
        )
        assert_problem(
            await api.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(token)),
            404,
            "not_found",
        )
    assert_problem(
        await api.delete(
            f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(world.partner_reader)
        ),
        403,
        "forbidden",
    )
    assert_problem(
        await api.post(
            "/v1/webhook-endpoints",
            json={"url": receiver.url},
            headers=bearer(world.partner_submitter),
        ),
        403,
        "forbidden",
    )
    assert (
        await api.delete(
            f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(world.partner_admin)
        )
    ).status_code == 204
    assert (
        await api.get("/v1/webhook-endpoints", headers=bearer(world.partner_admin))
    ).json() == []
    [row] = await factory.fetch(
        "SELECT secret_encrypted FROM webhook_endpoints WHERE id = %s", endpoint["id"]
    )
    assert endpoint["secret"].encode() not in bytes(row["secret_encrypted"])  # kept encrypted


# --- a deleted or disabled endpoint gets nothing more ----------------------------------------


async def _delivery_rows(factory, endpoint_id) -> list[dict]:
    return await factory.fetch(
        "SELECT d.id, d.status, d.attempts, d.lease_until, d.last_status,"
        " (SELECT count(*) FROM webhook_attempts a WHERE a.delivery_id = d.id) AS logged"
        " FROM webhook_deliveries d WHERE d.endpoint_id = %s",
        endpoint_id,
    )


async def _hold_one_attempt(api, factory, receiver):
    """A customer endpoint whose first delivery the relay has leased and sent, and the receiver
    holds open (its gate is cleared)."""
    receiver.gate.clear()
    world = await factory.world()
    endpoint = await register(api, world.customer_person, receiver.url)
    await submit(api, world.partner_admin, world.association_id)  # disassociation.requested

    async def leased():
        rows = await _delivery_rows(factory, endpoint["id"])
        return rows if rows and rows[0]["lease_until"] is not None else None

    [delivery] = await eventually(leased)
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    await asyncio.sleep(0.2)  # the request reaches the receiver, which holds it
    return world, endpoint


async def _ends_cancelled_after_one_attempt(factory, endpoint_id, receiver) -> None:
    async def recorded():
        rows = await _delivery_rows(factory, endpoint_id)
        return rows if rows and rows[0]["logged"] >= 1 and rows[0]["lease_until"] is None else None

    [delivery] = await eventually(recorded)
    await asyncio.sleep(1.0)  # retries come after 50 to 200 ms here: any would have come by now
    [delivery] = await _delivery_rows(factory, endpoint_id)
    assert (delivery["status"], delivery["attempts"], delivery["logged"]) == ("cancelled", 1, 1)
    assert delivery["last_status"] == 500
    assert len(receiver.received) == 1  # the held attempt, and nothing after it


async def test_an_attempt_in_flight_when_its_endpoint_is_deleted_is_not_retried(
    api, relay, factory
):
    receiver = Receiver(statuses=[500])
    try:
        world, endpoint = await _hold_one_attempt(api, factory, receiver)
        deleted = await api.delete(
            f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(world.customer_person)
        )
        assert deleted.status_code == 204
        receiver.gate.set()  # the held attempt now fails with 500
        await _ends_cancelled_after_one_attempt(factory, endpoint["id"], receiver)
    finally:
        receiver.close()


async def test_an_attempt_in_flight_when_its_endpoint_is_disabled_is_not_retried(
    api, relay, factory
):
    """An endpoint disabled (as a 410 disables it) while one of its attempts is in flight: that
    attempt failing leaves its delivery cancelled, even if nothing had cancelled it yet."""
    receiver = Receiver(statuses=[500])
    try:
        _, endpoint = await _hold_one_attempt(api, factory, receiver)
        async with factory.pool.connection() as conn:
            await conn.execute(
                "UPDATE webhook_endpoints SET enabled = false,"
                " disabled_reason = 'The endpoint answered 410 Gone.' WHERE id = %s",
                (endpoint["id"],),
            )
        receiver.gate.set()
        await _ends_cancelled_after_one_attempt(factory, endpoint["id"], receiver)
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "gone",
    [
        "deleted_at = now(), enabled = false",
        "enabled = false, disabled_reason = 'The endpoint answered 410 Gone.'",
    ],
    ids=["deleted", "disabled"],
)
async def test_a_delivery_of_a_deleted_or_disabled_endpoint_is_never_leased(
    api, factory, pool, settings, receiver, gone
):
    """A delivery still pending for an endpoint that is gone (written by a notification whose
    transaction raced the deletion, say) is cancelled by the relay, never sent."""
    from webhooks.relay import WebhookRelay

    world = await factory.world()
    endpoint = await register(api, world.customer_person, receiver.url)
    await submit(api, world.partner_admin, world.association_id)  # no relay runs yet
    [pending] = await _delivery_rows(factory, endpoint["id"])
    assert pending["status"] == "pending" and pending["attempts"] == 0
    async with pool.connection() as conn:
        await conn.execute(f"UPDATE webhook_endpoints SET {gone} WHERE id = %s", (endpoint["id"],))
    relay = WebhookRelay(pool, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:

        async def settled():
            rows = await _delivery_rows(factory, endpoint["id"])
            return rows if rows[0]["status"] != "pending" else None

        [delivery] = await eventually(settled)
        assert (delivery["status"], delivery["attempts"], delivery["logged"]) == ("cancelled", 0, 0)
        await asyncio.sleep(0.3)
        assert receiver.received == []
    finally:
        stop.set()
        await running
        await relay.aclose()


# --- what the owner is told: never an address, never the network's own words ------------------

PUBLIC = "93.184.215.14"
# An IPv4 address, or an IPv6 one (two colons with hex digits around them).
ADDRESS = re.compile(r"\d+\.\d+|[0-9a-f]*:[0-9a-f]*:", re.IGNORECASE)
OWNER_MESSAGES = {
    "refused: the address is not public",
    "could not connect",
    "refused: the host does not resolve",
}


def assert_tells_the_owner_nothing_of_the_network(message: str) -> None:
    assert message in OWNER_MESSAGES, message
    assert not ADDRESS.search(message), message
    for word in ("rror", "rrno", "Connection refused", "assocflow-test", "localhost"):
        assert word not in message, message


def fake_dns(monkeypatch, names: dict[str, list[list[str]]], *, unreachable=()) -> Counter:
    """This event loop's resolver answers `names` (the n-th call its n-th answer, then the
    last; an empty answer does not resolve), and connections to `unreachable` addresses are
    refused at once; everything else is the real network. Returns how often each name was
    asked for."""
    loop = asyncio.get_running_loop()
    real_getaddrinfo, real_create_connection = loop.getaddrinfo, loop.create_connection
    asked: Counter = Counter()

    async def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in names:
            return await real_getaddrinfo(host, port, *args, **kwargs)
        asked[name] += 1
        answers = names[name][min(asked[name], len(names[name])) - 1]
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port or 0), 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
            for a in answers
        ]

    async def create_connection(protocol_factory, host=None, port=None, *args, **kwargs):
        if host in unreachable:
            raise ConnectionRefusedError(111, f"Connect call failed ({host!r}, {port})")
        return await real_create_connection(protocol_factory, host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(loop, "create_connection", create_connection)
    return asked


@contextlib.asynccontextmanager
async def strict_relay(database_url, task_queue, pool, **overrides):
    """A relay that allows no private address and tries each delivery once."""
    from tests.conftest import WEBHOOKS
    from webhooks.relay import WebhookRelay

    settings = make_settings(
        database_url, task_queue,
        **{**WEBHOOKS, "webhook_allow_private": False, "webhook_max_attempts": 1, **overrides},
    )  # fmt: skip
    relay = WebhookRelay(pool, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await running
        await relay.aclose()


async def _settled(api, token, endpoint_id):
    items = await deliveries(api, token, endpoint_id)
    return items if items and items[0]["status"] != "pending" else None


def _errors(delivery: dict) -> list[str]:
    return [delivery["last_error"], *(a["error"] for a in delivery["attempt_log"])]


async def test_the_delivery_log_says_could_not_connect_and_no_more(api, relay, factory):
    """A receiver that is not there: the log says "could not connect", not the address nor
    the connection error (a port scanner for any owner, otherwise)."""
    from devstack.services import free_port

    world = await factory.world()
    endpoint = await register(api, world.customer_person, f"http://127.0.0.1:{free_port()}/hooks")
    await submit(api, world.partner_admin, world.association_id)

    async def tried_twice():
        items = await deliveries(api, world.customer_person, endpoint["id"])
        return items if items and len(items[0]["attempt_log"]) >= 2 else None

    [delivery] = await eventually(tried_twice)
    for error in _errors(delivery):
        assert error == "could not connect"
        assert_tells_the_owner_nothing_of_the_network(error)


async def test_the_delivery_log_says_refused_for_an_address_that_is_not_public(
    api, factory, pool, database_url, task_queue, receiver
):
    world = await factory.world()
    endpoint = await register(api, world.customer_person, receiver.url)  # allowed where registered
    async with strict_relay(database_url, task_queue, pool):
        await submit(api, world.partner_admin, world.association_id)
        [delivery] = await eventually(lambda: _settled(api, world.customer_person, endpoint["id"]))
    assert delivery["status"] == "failed" and delivery["last_status"] is None
    for error in _errors(delivery):
        assert error == "refused: the address is not public"
        assert_tells_the_owner_nothing_of_the_network(error)
    assert receiver.received == []


async def test_a_host_that_rebinds_to_loopback_is_never_called_there(
    api, factory, pool, database_url, task_queue, receiver, monkeypatch
):
    """DNS rebinding: the endpoint's name answers a public address first and 127.0.0.1 after.
    The delivery resolves it once and connects to the public address it checked (which
    refuses here): the receiver on 127.0.0.1 gets nothing."""
    name = "rebind.assocflow-test.example"
    asked = fake_dns(monkeypatch, {name: [[PUBLIC], ["127.0.0.1"]]}, unreachable={PUBLIC})
    world = await factory.world()
    port = receiver.url.split(":")[2].split("/")[0]
    endpoint = await register(api, world.customer_person, f"http://{name}:{port}/hooks")
    async with strict_relay(database_url, task_queue, pool):
        await submit(api, world.partner_admin, world.association_id)
        [delivery] = await eventually(lambda: _settled(api, world.customer_person, endpoint["id"]))
    assert receiver.received == []
    assert delivery["status"] == "failed"
    assert _errors(delivery) == ["could not connect", "could not connect"]
    assert asked[name] == 1  # one resolution for the one attempt


async def test_the_registration_problem_names_no_address(
    database_url, task_queue, dev_env, factory, monkeypatch
):
    from tests.conftest import WEBHOOKS

    fake_dns(
        monkeypatch,
        {
            "internal.assocflow-test.example": [["10.1.2.3"]],
            "multi.assocflow-test.example": [[PUBLIC, "10.1.2.3"]],
            "xn--bcher-kva.assocflow-test.example": [["127.0.0.1"]],
            "cgnat.assocflow-test.example": [["100.100.100.200"]],
            "nowhere.assocflow-test.example": [[]],
        },
    )
    settings = make_settings(
        database_url, task_queue, **{**WEBHOOKS, "webhook_allow_private": False}
    )
    world = await factory.world()
    async with api_client(settings, dev_env.client) as api:
        for url in (
            "http://localhost/hooks", "http://localhost./hooks", "http://127.1/hooks",
            "http://2130706433/hooks", "http://internal.assocflow-test.example/hooks",
            "http://multi.assocflow-test.example/hooks", "http://bücher.assocflow-test.example/",
            "http://cgnat.assocflow-test.example/", "http://nowhere.assocflow-test.example/",
        ):  # fmt: skip
            response = await api.post(
                "/v1/webhook-endpoints", json={"url": url}, headers=bearer(world.customer_person)
            )
            problem = assert_problem(response, 422, "validation_error")
            assert_tells_the_owner_nothing_of_the_network(problem["detail"])
            for error in problem.get("errors", []):
                assert_tells_the_owner_nothing_of_the_network(error["msg"])


async def test_a_queued_delivery_wakes_the_relay_when_its_transaction_commits(
    api, factory, receiver, database_url
):
    """The relay is woken by the notification's own statement (so that a lifecycle transaction
    can send it without waiting for its answer): once a delivery is queued, at commit, and not
    for an event nobody has an endpoint for."""
    world = await factory.world()
    await register(api, world.customer_person, receiver.url)

    async def queue_for(customer_id) -> list[psycopg.Notify]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as ear:
            await ear.execute(f"LISTEN {store_webhooks.CHANNEL}")
            async with factory.pool.connection() as conn, conn.transaction():
                await notifications.notify(
                    conn, recipients=[("customer", customer_id, f"test:{uuid.uuid4()}")],
                    event_type="disassociation.reminder", summary="s", data={},
                    created_at=datetime.now(UTC),
                )  # fmt: skip
                before_commit = [n async for n in ear.notifies(timeout=0.3)]
                assert before_commit == []
            return [n async for n in ear.notifies(timeout=2)]

    assert len(await queue_for(world.customer_id)) == 1
    nobody_listens, _ = await factory.customer()
    assert await queue_for(nobody_listens) == []


# --- a cap on each account's endpoints (ASSOCFLOW_WEBHOOK_ENDPOINTS_MAX) ----------------------


async def test_one_endpoint_over_the_cap_is_refused_until_one_is_removed(
    database_url, task_queue, dev_env, factory, receiver
):
    from tests.conftest import WEBHOOKS

    settings = make_settings(database_url, task_queue, **{**WEBHOOKS, "webhook_endpoints_max": 2})
    world = await factory.world()
    async with api_client(settings, dev_env.client) as api:
        first = await register(api, world.partner_admin, receiver.url)
        await register(api, world.partner_admin, receiver.url)
        over = await api.post(
            "/v1/webhook-endpoints", json={"url": receiver.url}, headers=bearer(world.partner_admin)
        )
        problem = assert_problem(over, 409, "webhook_endpoint_limit_reached")
        assert problem["limit"] == 2 and "ASSOCFLOW_WEBHOOK_ENDPOINTS_MAX" in problem["detail"]
        live = "SELECT count(*) FROM webhook_endpoints WHERE owner_id = %s AND deleted_at IS NULL"
        assert await factory.count(live, world.partner_id) == 2
        await register(api, world.customer_person, receiver.url)  # each account has its own cap
        removed = await api.delete(
            f"/v1/webhook-endpoints/{first['id']}", headers=bearer(world.partner_admin)
        )
        assert removed.status_code == 204
        await register(api, world.partner_admin, receiver.url)  # a removed one counts no more


async def test_registrations_at_once_never_pass_the_cap_together(
    database_url, task_queue, dev_env, factory, receiver
):
    from tests.conftest import WEBHOOKS

    settings = make_settings(database_url, task_queue, **{**WEBHOOKS, "webhook_endpoints_max": 3})
    world = await factory.world()
    async with api_client(settings, dev_env.client) as api:
        for _ in range(2):
            await register(api, world.customer_person, receiver.url)
        answers = await asyncio.gather(
            *(
                api.post(
                    "/v1/webhook-endpoints",
                    json={"url": receiver.url},
                    headers=bearer(world.customer_person),
                )
                for _ in range(6)
            )
        )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409]
    live = "SELECT count(*) FROM webhook_endpoints WHERE owner_id = %s AND deleted_at IS NULL"
    assert await factory.count(live, world.customer_id) == 3


async def test_a_registration_waits_for_one_under_way_before_it_counts(factory, pool):
    """The account's row is locked for the count and the insert: a second registration counts
    only once the first has committed, so both cannot see room for one."""
    customer_id, _ = await factory.customer()

    def register_one(conn):
        return store_webhooks.create_endpoint(
            conn, "customer", customer_id, "http://127.0.0.1:9/hooks", None, None, b"sealed",
            limit=1,
        )  # fmt: skip

    async with pool.connection() as first, pool.connection() as second:
        async with first.transaction():
            assert await register_one(first) is not None
            racing = asyncio.create_task(register_one(second))
            await asyncio.sleep(0.5)
            assert not racing.done()  # waits for the first, which has not committed yet
        assert await asyncio.wait_for(racing, 10) is None  # then finds the account full
    assert (
        await factory.count(
            "SELECT count(*) FROM webhook_endpoints WHERE owner_id = %s", customer_id
        )
        == 1
    )
