"""Least privilege on reads: what a caller may not do to a request, it may not read around it.

The message center (its list, marking read, the console's unread count) tells of associations and
their requests: it needs `associations:read`, as the requests do. Webhook endpoints with their
delivery logs, and the account's settings, are the account's admins' (a partner's `admin`, a
customer's people), read as well as write: a service token and a partner user without the role
get 403. The console shows each person only the links and pages they may use, and the use cases
refuse the rest all the same.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from application import sessions as app_sessions
from application.services import Services
from console.auth import SESSION_COOKIE
from store import sessions as store_sessions
from tests.api.test_disassociations import assert_problem
from tests.factories import bearer

pytestmark = pytest.mark.devserver

HOOKS = "http://127.0.0.1:9/hooks"


async def _partner_note(factory, partner_id) -> str:
    """A notification to the partner, unread; its id."""
    summary = f"note {uuid.uuid4().hex[:8]}"
    await factory.notify("partner", partner_id, summary)
    [row] = await factory.fetch("SELECT id FROM notifications WHERE summary = %s", summary)
    return str(row["id"])


async def test_the_message_center_needs_associations_read(api, factory):
    world = await factory.world()
    note = await _partner_note(factory, world.partner_id)
    _, nobody = await factory.user(world.partner_id, [])
    _, submitter_only = await factory.user(world.partner_id, ["type_changes:submit"])
    for token in (nobody, submitter_only):
        assert_problem(await api.get("/v1/notifications", headers=bearer(token)), 403, "forbidden")
        assert_problem(
            await api.post(f"/v1/notifications/{note}/read", headers=bearer(token)),
            403,
            "forbidden",
        )
    [row] = await factory.fetch("SELECT read_at FROM notifications WHERE id = %s", note)
    assert row["read_at"] is None  # the refused mark-read changed nothing
    # Who may read the associations reads their message center; a customer's people and its
    # service token act for the whole account.
    listed = await api.get("/v1/notifications", headers=bearer(world.partner_reader))
    assert [n["id"] for n in listed.json()["items"]] == [note]
    for token in (world.customer, world.customer_person):
        assert (await api.get("/v1/notifications", headers=bearer(token))).status_code == 200
    read = await api.post(f"/v1/notifications/{note}/read", headers=bearer(world.partner_reader))
    assert read.status_code == 200


async def test_the_unread_count_is_only_for_who_may_read_the_message_center(
    factory, pool, settings
):
    world = await factory.world()
    await _partner_note(factory, world.partner_id)
    nobody_id, _ = await factory.user(world.partner_id, [])
    reader_id, _ = await factory.user(world.partner_id, ["associations:read"])
    svc = Services(pool, None, settings, None)  # type: ignore[arg-type]  # no Temporal here
    without = await app_sessions.session(svc, await _session_of(factory, nobody_id))
    reader = await app_sessions.session(svc, await _session_of(factory, reader_id))
    assert without is not None and reader is not None
    assert without.unread is None  # not a count of what it may not read
    assert reader.unread == 1 and reader.account_name == world.partner_name


async def test_webhook_endpoints_and_their_deliveries_are_for_the_accounts_admins(api, factory):
    world = await factory.world()
    partner_service = await factory.token("partner_service", world.partner_id)
    partner_hook = (
        await api.post(
            "/v1/webhook-endpoints", json={"url": HOOKS}, headers=bearer(world.partner_admin)
        )
    ).json()["id"]
    customer_hook = (
        await api.post(
            "/v1/webhook-endpoints", json={"url": HOOKS}, headers=bearer(world.customer_person)
        )
    ).json()["id"]
    refused = {
        world.partner_reader: partner_hook,  # may read the associations, not run the account
        partner_service: partner_hook,
        world.customer: customer_hook,  # the customer's service token
    }
    for token, endpoint in refused.items():
        for path in (
            "/v1/webhook-endpoints",
            f"/v1/webhook-endpoints/{endpoint}",
            f"/v1/webhook-endpoints/{endpoint}/deliveries",
        ):
            assert_problem(await api.get(path, headers=bearer(token)), 403, "forbidden")
    allowed = {world.partner_admin: partner_hook, world.customer_person: customer_hook}
    for token, endpoint in allowed.items():
        listed = await api.get("/v1/webhook-endpoints", headers=bearer(token))
        assert [e["id"] for e in listed.json()] == [endpoint]
        one = await api.get(f"/v1/webhook-endpoints/{endpoint}", headers=bearer(token))
        assert one.status_code == 200
        log = await api.get(f"/v1/webhook-endpoints/{endpoint}/deliveries", headers=bearer(token))
        assert log.status_code == 200


async def test_the_account_settings_are_read_by_the_accounts_admins_only(api, factory):
    world = await factory.world()
    _, nobody = await factory.user(world.partner_id, [])
    partner_service = await factory.token("partner_service", world.partner_id)
    for token in (nobody, world.partner_reader, partner_service, world.customer):
        assert_problem(await api.get("/v1/settings", headers=bearer(token)), 403, "forbidden")
    for token in (world.partner_admin, world.customer_person):
        answer = await api.get("/v1/settings", headers=bearer(token))
        assert answer.status_code == 200 and answer.json()["verification_required"] is False


async def _session_of(factory, person_id) -> str:
    """The token of a console session of the person's, signed in now."""
    token, at = store_sessions.new_token(), datetime.now(UTC)
    async with factory.pool.connection() as conn:
        await store_sessions.open_session(
            conn, person_id, token=token, verified=True, at=at, expires_at=at + timedelta(hours=1)
        )
    return token


async def _console_as(factory, person_id) -> dict[str, str]:
    """The cookie of a console session of the person's, signed in now."""
    return {"Cookie": f"{SESSION_COOKIE}={await _session_of(factory, person_id)}"}


async def test_the_console_shows_each_person_only_the_messages_and_webhooks_they_may_use(
    api, factory
):
    world = await factory.world()
    await _partner_note(factory, world.partner_id)
    nobody_id, _ = await factory.user(world.partner_id, [])
    reader_id, _ = await factory.user(world.partner_id, ["associations:read"])
    endpoint = (
        await api.post(
            "/v1/webhook-endpoints", json={"url": HOOKS}, headers=bearer(world.partner_admin)
        )
    ).json()["id"]

    nobody = await _console_as(factory, nobody_id)
    settings = await api.get("/console/settings", headers=nobody)
    assert settings.status_code == 200  # their own authenticator is there
    assert 'href="/console/messages"' not in settings.text
    assert "Webhook endpoints" not in settings.text and HOOKS not in settings.text
    assert "Verification is off" in settings.text
    assert (await api.get("/console/messages", headers=nobody)).status_code == 403
    deliveries = await api.get(f"/console/settings/webhooks/{endpoint}", headers=nobody)
    assert deliveries.status_code == 403 and HOOKS not in deliveries.text

    reader = await _console_as(factory, reader_id)
    page = await api.get("/console/messages", headers=reader)
    assert page.status_code == 200 and 'href="/console/messages"' in page.text
    assert "1 unread" in page.text
    settings = await api.get("/console/settings", headers=reader)
    assert "Webhook endpoints" not in settings.text and HOOKS not in settings.text
    assert (
        await api.get(f"/console/settings/webhooks/{endpoint}", headers=reader)
    ).status_code == 403


async def test_the_badge_counts_unread_messages_up_to_99_then_says_99_plus(api, factory):
    """Every console page shows the badge: it counts no further than it shows, so that an account
    with a long unread history does not make every page read all of it."""
    world = await factory.world()
    reader_id, _ = await factory.user(world.partner_id, ["associations:read"])
    reader = await _console_as(factory, reader_id)
    for _ in range(99):
        await _partner_note(factory, world.partner_id)
    assert await _badge(api, reader) == ("99", ", 99 unread")
    await _partner_note(factory, world.partner_id)
    assert await _badge(api, reader) == ("99+", ", 99+ unread")


async def _badge(api, cookie) -> tuple[str, str]:
    """The unread badge of a console page: what it shows, and what it says to a screen reader."""
    page = await api.get("/console/messages", headers=cookie)
    badge = re.search(
        r'id="unread-badge"[^>]*><span aria-hidden="true">([^<]*)</span>'
        r'<span class="visually-hidden">([^<]*)</span>',
        page.text,
    )
    assert badge is not None, page.text
    return badge.group(1), badge.group(2)
