"""What the workflow, its starters and operators share: search attributes and the readable
description of a request shown in the Temporal UI."""

from __future__ import annotations

from datetime import datetime

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from domain.decisions import timeout_outcome
from domain.messages import duration, stamp
from domain.types import RequestStatus, Side
from workflows.contract import SubmitCommand

PARTNER_ID = SearchAttributeKey.for_keyword("PartnerId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ASSOCIATION_ID = SearchAttributeKey.for_keyword("AssociationId")
INITIATOR = SearchAttributeKey.for_keyword("Initiator")
REQUEST_STATUS = SearchAttributeKey.for_keyword("RequestStatus")
RESPOND_BY = SearchAttributeKey.for_datetime("RespondBy")

SEARCH_ATTRIBUTES = (PARTNER_ID, CUSTOMER_ID, ASSOCIATION_ID, INITIATOR, REQUEST_STATUS, RESPOND_BY)


# RequestStatus also takes two values of its own before a request is pending.
CHECKING = "checking"
CHECK_FAILED = "check_failed"


def initial_search_attributes(cmd: SubmitCommand) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(PARTNER_ID, str(cmd.partner_id)),
            SearchAttributePair(CUSTOMER_ID, str(cmd.customer_id)),
            SearchAttributePair(ASSOCIATION_ID, str(cmd.association_id)),
            SearchAttributePair(INITIATOR, cmd.initiator.value),
            SearchAttributePair(REQUEST_STATUS, CHECKING),
        ]
    )


def _party(cmd: SubmitCommand, side: Side) -> str:
    return (
        f"partner {cmd.partner_name}" if side is Side.PARTNER else f"customer {cmd.customer_name}"
    )


def static_summary(cmd: SubmitCommand) -> str:
    """One line for the workflow list: who asks to end which association."""
    return (
        f"{cmd.initiator.value.capitalize()}-initiated: {cmd.customer_name} ↔ "
        f"{cmd.partner_name} ({cmd.association_type.value})"
    )


def static_details(cmd: SubmitCommand) -> str:
    p = cmd.policy
    on_timeout = timeout_outcome(p, cmd.initiator).value.replace("_", "-")
    return "\n".join(
        [
            f"### Disassociation request `{cmd.request_id}`",
            f"The **{_party(cmd, cmd.initiator)}** asks to end the **{cmd.association_type.value}**"
            f" association with the **{_party(cmd, cmd.initiator.other)}**.",
            "",
            "| | |",
            "|---|---|",
            f"| Association | `{cmd.association_id}` |",
            f"| Partner | {cmd.partner_name} (`{cmd.partner_id}`) |",
            f"| Customer | {cmd.customer_name} (`{cmd.customer_id}`) |",
            f"| Requested by | `{cmd.requested_by.ref}` |",
            f"| Reason | {cmd.reason} |",
            f"| Response window | {duration(p.response_window)} |",
            f"| On timeout | {on_timeout} |",
            "",
            "Operators settle it with the admin API or `assocflow requests agree|reject|cancel`"
            " (recorded under their name), or here with the `agree` or `reject` signal, input"
            ' `{"operator": "<you>", "reason": "<why>"}` (a reason is required to reject;'
            " recorded as unverified), or by cancelling the workflow (the request is cancelled).",
        ]
    )


def pending_details(
    cmd: SubmitCommand, respond_by: datetime, reminder_at: datetime | None, reminded: bool
) -> str:
    counterpart = _party(cmd, cmd.initiator.other)
    on_timeout = timeout_outcome(cmd.policy, cmd.initiator)
    lines = [
        f"**Pending**: waiting for the **{counterpart}** to agree or reject, "
        f"or for the {_party(cmd, cmd.initiator)} to withdraw.",
        "",
        f"- Respond by: **{stamp(respond_by)}**; then it is "
        f"**{on_timeout.value.replace('_', '-')}**.",
    ]
    if reminder_at is not None:
        state = "sent" if reminded else "due"
        lines.append(f"- Reminder to the {counterpart}: {state} at {stamp(reminder_at)}.")
    return "\n".join(lines)


def settled_details(
    outcome: RequestStatus, actor_ref: str, at: datetime, reason: str | None
) -> str:
    lines = [f"**{outcome.value.replace('_', '-').capitalize()}** at {stamp(at)} by `{actor_ref}`."]
    if reason:
        lines.append(f"\nReason: {reason}")
    if outcome.ends_association:
        lines.append("\nThe association has ended; both sides were notified.")
    else:
        lines.append("\nThe association continues; both sides were notified.")
    return "\n".join(lines)
