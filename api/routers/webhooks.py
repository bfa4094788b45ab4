"""Webhook endpoints: register, list, remove, and read what was delivered. Every route is for the
account's admins (the partner's `admin` role, or a customer's people), reading included."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, HttpUrl

from api.deps import App, Party
from api.pages import page_response
from api.schemas import Body, Limit, Page
from application import webhooks
from application.webhooks import WebhookEndpoint
from domain.types import EVENT_TYPES, EventType

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])


class EndpointIn(Body):
    url: HttpUrl = Field(description="Where to POST events; a public http(s) address.")
    description: str | None = Field(default=None, max_length=200)
    event_types: list[EventType] | None = Field(
        default=None, max_length=len(EVENT_TYPES), description="Only these events; all if absent."
    )


class Endpoint(BaseModel):
    id: UUID
    url: str
    description: str | None = None
    event_types: list[str] | None = None
    enabled: bool
    disabled_reason: str | None = None
    created_at: datetime


class NewEndpoint(Endpoint):
    secret: str = Field(
        description="The `whsec_` signing secret. It is shown only in this response."
    )


class Attempt(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int


class Delivery(BaseModel):
    id: UUID
    webhook_id: str
    notification_id: UUID
    event_type: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime
    attempt_log: list[Attempt]


@router.post("", status_code=201, response_model=NewEndpoint, operation_id="createWebhookEndpoint")
async def create_endpoint(
    body: EndpointIn, who: Party, app: App, response: Response
) -> NewEndpoint:
    """Register an endpoint (the partner's `admin` role, or a customer's people), up to
    ASSOCFLOW_WEBHOOK_ENDPOINTS_MAX per account. The answer holds the `whsec_` signing secret,
    once; events are delivered per Standard Webhooks (see the document's `webhooks`)."""
    row, secret = await webhooks.create_endpoint(
        app, who, str(body.url), body.description, body.event_types
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/v1/webhook-endpoints/{row.id}"
    return NewEndpoint(**row.model_dump(), secret=secret)


@router.get("", response_model=list[Endpoint], operation_id="listWebhookEndpoints")
async def list_endpoints(who: Party, app: App) -> list[WebhookEndpoint]:
    """The account's webhook endpoints (its admins)."""
    return await webhooks.list_endpoints(app, who)


@router.get("/{endpoint_id}", response_model=Endpoint, operation_id="getWebhookEndpoint")
async def get_endpoint(endpoint_id: UUID, who: Party, app: App) -> WebhookEndpoint:
    """One of the account's webhook endpoints (its admins)."""
    return await webhooks.get_endpoint(app, who, endpoint_id)


@router.delete("/{endpoint_id}", status_code=204, operation_id="deleteWebhookEndpoint")
async def delete_endpoint(endpoint_id: UUID, who: Party, app: App) -> Response:
    """Remove an endpoint: nothing more is delivered to it, attempts under way included."""
    await webhooks.delete_endpoint(app, who, endpoint_id)
    return Response(status_code=204)


@router.get(
    "/{endpoint_id}/deliveries", response_model=Page[Delivery], operation_id="listWebhookDeliveries"
)
async def list_deliveries(
    endpoint_id: UUID,
    who: Party,
    app: App,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """What was sent to this endpoint, newest first, each with its attempts (the account's
    admins)."""
    rows, next_cursor = await webhooks.list_deliveries(
        app, who, endpoint_id, limit=limit, cursor=cursor
    )
    items = [
        Delivery.model_validate(
            {**r.model_dump(), "webhook_id": webhooks.webhook_id(r.notification_id)}
        )
        for r in rows
    ]
    return page_response(Page[Delivery](items=items, next_cursor=next_cursor))
