"""The words people read: notification summaries (message center and webhooks), and how moments
and spans of time are written. One place, so that a sentence is written once and reads the same
wherever it appears."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.types import RequestStatus, Side


def stamp(moment: datetime) -> str:
    """A moment as people read it: 2026-11-27 14:05:09 UTC (to the second: a demo's deadlines
    are seconds apart)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(span: timedelta) -> str:
    """10 days, 48 hours, 30 seconds: the largest whole unit."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _between(partner: str, customer: str) -> str:
    return f"the association between {partner} and {customer}"


def requested(initiator: Side, partner: str, customer: str, respond_by: datetime) -> str:
    who = f"Partner {partner}" if initiator is Side.PARTNER else f"Customer {customer}"
    return (
        f"{who} asked to end {_between(partner, customer)}; agree or reject by {stamp(respond_by)}."
    )


def reminder(partner: str, customer: str, respond_by: datetime) -> str:
    return (
        f"Reminder: the request to end {_between(partner, customer)} awaits your answer until"
        f" {stamp(respond_by)}."
    )


def outcome(status: RequestStatus, partner: str, customer: str) -> str:
    between = _between(partner, customer)
    return {
        RequestStatus.AGREED: f"The request to end {between} was agreed.",
        RequestStatus.AUTO_AGREED: f"The request to end {between} was agreed automatically: "
        "no answer came before the deadline.",
        RequestStatus.REJECTED: f"The request to end {between} was rejected.",
        RequestStatus.EXPIRED: f"The request to end {between} expired without an answer.",
        RequestStatus.WITHDRAWN: f"The request to end {between} was withdrawn.",
        RequestStatus.CANCELLED: f"The request to end {between} was cancelled by the platform;"
        " the association continues.",
    }[status]


def association_ended(partner: str, customer: str) -> str:
    return f"The association between {partner} and {customer} has ended."
