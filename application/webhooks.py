"""Webhook endpoints of the caller's account: register, list, read, remove, and what was
delivered to each.

All of it is the account's admins' (a partner's `admin`, a customer's people), reading included:
an endpoint's address and its delivery log say where the account's events go and what they were,
which is for who may change where they go. Nobody else learns whether an endpoint exists (the
role is judged before any lookup). An account has at most ASSOCFLOW_WEBHOOK_ENDPOINTS_MAX live
endpoints: each costs the relay a delivery per event.
"""

from __future__ import annotations

from uuid import UUID

from application.errors import Failure, invalid, not_found, paged
from application.principal import Principal
from application.services import Services
from domain.problems import ProblemCode
from domain.text import Text
from domain.types import EventType
from store import webhooks
from store.rows import WebhookDelivery
from store.rows import WebhookEndpoint as WebhookEndpoint  # what the endpoint routes show
from webhooks import urls
from webhooks.relay import webhook_id as webhook_id  # deliveries are shown with it
from webhooks.secrets import SecretBox, new_secret
from webhooks.urls import UnsafeURL, check_url

# Webhooks need an encryption key on the server for the endpoints' signing secrets (503).
WEBHOOKS_UNAVAILABLE = ProblemCode.WEBHOOKS_UNAVAILABLE
# One more endpoint than ASSOCFLOW_WEBHOOK_ENDPOINTS_MAX (409).
LIMIT_REACHED = ProblemCode.WEBHOOK_ENDPOINT_LIMIT_REACHED

# What webhooks/urls.py says of a URL it will not call, as words for the caller's language (its
# sentences stay English where they are stored: the delivery log).
_URL_REFUSALS = {
    urls.NOT_PUBLIC: Text("refused: the address is not public"),
    urls.COULD_NOT_CONNECT: Text("could not connect"),
    urls.DOES_NOT_RESOLVE: Text("refused: the host does not resolve"),
    urls.NOT_HTTP: Text("refused: the URL must be http:// or https:// with a host"),
    urls.CREDENTIALS: Text("refused: the URL must not carry credentials"),
    urls.INVALID_HOST: Text("refused: the host is not a valid name or address"),
    urls.NON_CANONICAL: Text("refused: write an IPv4 address as four decimal numbers (a.b.c.d)"),
}


def _url_refused(words: str) -> str:
    """webhooks/urls.py's sentence, as a Text where it is one of those above."""
    text = _URL_REFUSALS.get(words)
    return text if text is not None and text == words else words


async def create_endpoint(
    svc: Services,
    who: Principal,
    url: str,
    description: str | None,
    event_types: list[EventType] | None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint (the account's admins) at a public http(s) address, within the
    account's cap; returns it with its `whsec_` signing secret, which is never shown again."""
    who.require_admin()
    key = svc.settings.encryption_key
    box = SecretBox(key.get_secret_value() if key else None)
    if not box.available:
        raise Failure(
            WEBHOOKS_UNAVAILABLE, Text("Webhooks need ASSOCFLOW_ENCRYPTION_KEY on the server.")
        )
    try:
        await check_url(url, allow_private=svc.settings.webhook_allow_private)
    except UnsafeURL as exc:
        raise invalid("url", _url_refused(str(exc))) from exc
    secret = new_secret()
    account = who.account
    limit = svc.settings.webhook_endpoints_max
    async with svc.pool.connection() as conn:
        row = await webhooks.create_endpoint(
            conn,
            account.kind,
            account.id,
            url,
            description,
            event_types,
            box.seal(secret),
            limit=limit,
        )
    if row is None:
        raise Failure(
            LIMIT_REACHED,
            Text(
                "This account has {limit} webhook endpoints, as many as it may"
                " (ASSOCFLOW_WEBHOOK_ENDPOINTS_MAX): remove one first.",
                limit=limit,
            ),
            limit=limit,
        )
    return row, secret


async def list_endpoints(svc: Services, who: Principal) -> list[WebhookEndpoint]:
    """The account's endpoints (the account's admins)."""
    who.require_admin()
    account = who.account
    async with svc.pool.connection() as conn:
        return await webhooks.list_endpoints(conn, account.kind, account.id)


async def get_endpoint(svc: Services, who: Principal, endpoint_id: UUID) -> WebhookEndpoint:
    """One of the account's endpoints (the account's admins); any other is not found."""
    who.require_admin()
    account = who.account
    async with svc.pool.connection() as conn:
        row = await webhooks.get_endpoint(conn, account.kind, account.id, endpoint_id)
    if row is None:
        raise not_found(Text("webhook endpoint"))
    return row


async def delete_endpoint(svc: Services, who: Principal, endpoint_id: UUID) -> None:
    """Remove an endpoint (the account's admins); what it still had to receive is cancelled."""
    await get_endpoint(svc, who, endpoint_id)
    account = who.account
    async with svc.pool.connection() as conn:
        await webhooks.delete_endpoint(conn, account.kind, account.id, endpoint_id)


@paged
async def list_deliveries(
    svc: Services, who: Principal, endpoint_id: UUID, *, limit: int, cursor: str | None
) -> tuple[list[WebhookDelivery], str | None]:
    """What was sent to one of the account's endpoints, newest first, each with its attempts
    (the account's admins, as `get_endpoint` judges)."""
    await get_endpoint(svc, who, endpoint_id)
    async with svc.pool.connection() as conn:
        return await webhooks.list_deliveries(conn, endpoint_id, limit=limit, cursor=cursor)
