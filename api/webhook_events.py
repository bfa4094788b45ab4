"""The events assocflow delivers to webhook endpoints, as the OpenAPI document's `webhooks`: each
event type with its payload (`type`, `timestamp`, `data`; `data` is domain/events.py's
`RequestEvent`, or `TypeChangeEvent` for a type change's), an example, and the Standard Webhooks
headers every delivery carries.

These routes are never served: they describe what assocflow sends (webhooks/relay.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.events import PartnerChangeEvent, RequestEvent, TypeChangeEvent

# Each event sent, to whom, and the request's status it carries.
EVENTS: dict[str, tuple[str, str]] = {
    "disassociation.requested": (
        "A request to end an association was accepted; sent to the counterpart, who answers by"
        " `respond_by`.",
        "pending",
    ),
    "disassociation.reminder": (
        "The request is still pending and `respond_by` is near (ASSOCFLOW_REMINDER_BEFORE);"
        " sent to the counterpart.",
        "pending",
    ),
    "disassociation.agreed": (
        "The counterpart (or an operator) agreed; sent to both sides.",
        "agreed",
    ),
    "disassociation.auto_agreed": (
        "No answer by `respond_by`, and the policy agrees (customer-initiated by default); sent"
        " to both sides.",
        "auto_agreed",
    ),
    "disassociation.rejected": (
        "The counterpart (or an operator) rejected, with a reason; sent to both sides.",
        "rejected",
    ),
    "disassociation.expired": (
        "No answer by `respond_by`, and the policy lets it expire (partner-initiated by"
        " default); sent to both sides.",
        "expired",
    ),
    "disassociation.withdrawn": (
        "The initiator withdrew the request; sent to both sides.",
        "withdrawn",
    ),
    "disassociation.cancelled": (
        "An operator cancelled the request (or the reconciler did, its workflow having ended"
        " without an outcome); sent to both sides.",
        "cancelled",
    ),
    "association.ended": (
        "The association has ended (its request was agreed or auto-agreed); sent to both sides,"
        " with the request that ended it.",
        "agreed",
    ),
    "type_change.requested": (
        "A request to change an association's type was accepted; sent to the counterpart, who"
        " answers by `respond_by`.",
        "pending",
    ),
    "type_change.reminder": (
        "The type change is still pending and `respond_by` is near; sent to the counterpart.",
        "pending",
    ),
    "type_change.agreed": (
        "The counterpart (or an operator) agreed to the type change; sent to both sides.",
        "agreed",
    ),
    "type_change.rejected": (
        "The counterpart (or an operator) rejected the type change, with a reason; sent to both"
        " sides.",
        "rejected",
    ),
    "type_change.expired": (
        "No answer by `respond_by`: the type change expired and the type stays; sent to both"
        " sides.",
        "expired",
    ),
    "type_change.withdrawn": (
        "The initiator withdrew the type change; sent to both sides.",
        "withdrawn",
    ),
    "type_change.cancelled": (
        "An operator cancelled the type change (or the reconciler did); sent to both sides.",
        "cancelled",
    ),
    "association.type_changed": (
        "The association's type changed by an agreed type change request; sent to both sides,"
        " with the request (`from_type`, `new_type`).",
        "agreed",
    ),
    "partner_change.requested": (
        "A customer asked to move from its partner to another; sent to both partners, who answer"
        " by `respond_by`.",
        "pending",
    ),
    "partner_change.reminder": (
        "The partner change is still pending and `respond_by` is near; sent to each partner whose"
        " answer is missing.",
        "pending",
    ),
    "partner_change.accepted": (
        "The new partner accepted the customer; the current partner's answer is awaited. Sent"
        " to all three parties.",
        "pending",
    ),
    "partner_change.agreed": (
        "The current partner agreed to let the customer go; the new partner's answer is"
        " awaited. Sent to all three parties.",
        "pending",
    ),
    "partner_change.declined": (
        "The new partner declined: the customer stays. Sent to all three parties.",
        "declined",
    ),
    "partner_change.rejected": (
        "The current partner rejected: the customer stays. Sent to all three parties.",
        "rejected",
    ),
    "partner_change.completed": (
        "Both partners consented (the current partner's silence counts at the deadline): the old"
        " association ended and the new one began. Sent to all three parties.",
        "completed",
    ),
    "partner_change.expired": (
        "The new partner did not answer by `respond_by`: the customer stays. Sent to all three"
        " parties.",
        "expired",
    ),
    "partner_change.withdrawn": (
        "The customer withdrew the request; sent to all three parties.",
        "withdrawn",
    ),
    "partner_change.cancelled": (
        "An operator cancelled the partner change (or the reconciler did); sent to all three"
        " parties.",
        "cancelled",
    ),
    "association.started": (
        "A partner change began the customer's association with its new partner; sent to the"
        " customer and the new partner, with the request.",
        "completed",
    ),
}

# The events about a type change request carry its `from_type` and `new_type`; those about a
# partner change, its partners and their answers. `association.ended` is about the request that
# ended the association, a disassociation or a partner change.
TYPE_CHANGE_EVENTS = frozenset(event for event in EVENTS if event.startswith("type_change.")) | {
    "association.type_changed"
}
PARTNER_CHANGE_EVENTS = frozenset(
    event for event in EVENTS if event.startswith("partner_change.")
) | {"association.started"}


def _data_of(event_type: str) -> Any:
    if event_type in TYPE_CHANGE_EVENTS:
        return TypeChangeEvent
    if event_type in PARTNER_CHANGE_EVENTS:
        return PartnerChangeEvent
    if event_type == "association.ended":
        return RequestEvent | PartnerChangeEvent
    return RequestEvent


STANDARD_HEADERS = {
    "webhook-id": "The event's id, `msg_…`: the same on every retry of the event. Drop an event"
    " whose id you have handled already.",
    "webhook-timestamp": "When this attempt was signed, in seconds since the epoch. Refuse one"
    " too far from now (Standard Webhooks libraries allow five minutes).",
    "webhook-signature": "`v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>`"
    " under the endpoint's `whsec_` secret (space-separated when several).",
}


def _camel(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace(".", "_").split("_"))


def payload_model(event_type: str) -> type[BaseModel]:
    """The body of a delivery of `event_type`."""
    fields: dict[str, Any] = {
        "type": (Literal[event_type], Field(description="The event type.")),
        "timestamp": (datetime, Field(description="When the event happened (ISO 8601).")),
        "data": (
            _data_of(event_type),
            Field(description="The request the event is about, as it is now."),
        ),
    }
    model: type[BaseModel] = create_model(
        f"{_camel(event_type)}Event",
        __config__=ConfigDict(title=f"{_camel(event_type)}Event"),
        __doc__=f"The body of a `{event_type}` delivery.",
        **fields,
    )
    return model


def example(event_type: str) -> dict[str, Any]:
    """A delivery of `event_type`, as the relay sends it."""
    status = EVENTS[event_type][1]
    decided = status not in ("pending",)
    decided_by = {
        "agreed": "partner_user:00000000-0000-4000-8000-000000000202",
        "auto_agreed": "system:assocflow",
        "expired": "system:assocflow",
        "rejected": "partner_user:00000000-0000-4000-8000-000000000202",
        "withdrawn": "customer_user:7c6b5a49-3827-4165-9f4e-3d2c1b0a9f8e",
        "cancelled": "operator:alice",
    }
    request = {
        "id": "6f1f5bd2-3c57-4b8e-9a43-2f0d8f1c9b7e",
        "association_id": "00000000-0000-4000-8000-000000000401",
        "partner_id": "00000000-0000-4000-8000-000000000102",
        "customer_id": "00000000-0000-4000-8000-000000000301",
        "initiator": "customer",
        "status": status,
        "reason": "We are moving to another partner",
        "submitted_at": "2026-03-02T09:30:00+00:00",
        "respond_by": "2026-03-12T09:30:00+00:00",
        "decided_at": "2026-03-03T14:05:00+00:00" if decided else None,
        "decided_by": decided_by.get(status),
        "decision_reason": "Thank you for working with us" if status == "agreed" else None,
    }
    if event_type in TYPE_CHANGE_EVENTS:
        request.update(
            id="8a2e6c1d-4b7f-4e9a-9c3d-1f5b7a9c2e4d",
            reason="We now buy directly and only want your advice",
            from_type="resale",
            new_type="referral",
        )
    if event_type in PARTNER_CHANGE_EVENTS:
        request = _partner_change_example(status)
    when = "2026-03-03T14:05:00.104211+00:00" if decided else "2026-03-02T09:30:00.512876+00:00"
    return {"type": event_type, "timestamp": when, "data": {"request": request}}


def _partner_change_example(status: str) -> dict[str, Any]:
    agreed = {
        "decision": "agree",
        "at": "2026-03-02T16:00:00+00:00",
        "by": "partner_user:00000000-0000-4000-8000-000000000202",
        "reason": None,
    }
    accepted = {
        "decision": "accept",
        "at": "2026-03-03T14:05:00+00:00",
        "by": "partner_user:00000000-0000-4000-8000-000000000206",
        "reason": None,
        "association_type": "resale",
    }
    completed = status == "completed"
    return {
        "id": "3c9d1e7f-2a4b-4c6d-8e0f-1a2b3c4d5e6f",
        "association_id": "00000000-0000-4000-8000-000000000401",
        "customer_id": "00000000-0000-4000-8000-000000000301",
        "current_partner_id": "00000000-0000-4000-8000-000000000102",
        "new_partner_id": "00000000-0000-4000-8000-000000000103",
        "status": status,
        "reason": "Our new reseller covers our region",
        "submitted_at": "2026-03-02T09:30:00+00:00",
        "respond_by": "2026-03-12T09:30:00+00:00",
        "current_partner_decision": agreed if status != "pending" else None,
        "new_partner_decision": accepted if completed else None,
        "new_association_id": "00000000-0000-4000-8000-000000000409" if completed else None,
        "completed_at": "2026-03-03T14:05:00+00:00" if completed else None,
    }


def install(app: FastAPI) -> None:
    """Describe every event under `webhooks`, one operation per event type."""
    for event_type, (description, _) in EVENTS.items():
        _describe(app, event_type, description)


def _describe(app: FastAPI, event_type: str, description: str) -> None:
    model = payload_model(event_type)

    async def event(
        body: Any, webhook_id: Any, webhook_timestamp: Any, webhook_signature: Any
    ) -> None:
        """Never called: it describes the delivery."""

    # The annotations as objects (this module's are strings, and `model` is made here).
    event.__annotations__ = {
        "body": model,
        "webhook_id": Annotated[str, Header(alias="webhook-id")],
        "webhook_timestamp": Annotated[int, Header(alias="webhook-timestamp")],
        "webhook_signature": Annotated[str, Header(alias="webhook-signature")],
        "return": None,
    }
    event.__doc__ = description
    app.webhooks.post(
        event_type,
        operation_id=f"on{_camel(event_type)}",
        summary=f"`{event_type}`",
        description=description,
        tags=["webhooks"],
        status_code=204,
    )(event)


# What an endpoint's answer means to the relay (webhooks/relay.py).
ANSWERS = {
    "2XX": "Received: the delivery is done. Answer at once and do the work afterwards; an answer"
    " slower than ASSOCFLOW_WEBHOOK_TIMEOUT (10 s) counts as a failure.",
    "410": "Gone: the relay disables the endpoint and sends it nothing more.",
    "default": "Anything else (or no answer) is retried with exponential backoff and jitter,"
    " with the same `webhook-id`, up to ASSOCFLOW_WEBHOOK_MAX_ATTEMPTS times.",
}


def document(webhooks: dict[str, Any]) -> None:
    """Examples, the headers' meaning, and what each answer means, for every event."""
    for event_type, methods in webhooks.items():
        spec = methods["post"]
        body = spec["requestBody"]
        body["description"] = f"The `{event_type}` event, signed per Standard Webhooks."
        body["content"]["application/json"]["example"] = example(event_type)
        for parameter in spec["parameters"]:
            parameter["description"] = STANDARD_HEADERS[parameter["name"]]
        spec["responses"] = {status: {"description": text} for status, text in ANSWERS.items()}
