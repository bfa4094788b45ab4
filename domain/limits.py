"""The request limit: at most N accepted requests in any M calendar months, whatever their
outcome (which requests count — per side, per association — is domain/kinds.py's)."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import datetime


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months away, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def window_start(as_of: datetime, window_months: int) -> datetime:
    """Requests submitted after this moment count against the limit at `as_of`."""
    return add_months(as_of, -window_months)


def next_allowed_at(
    submitted: Iterable[datetime], as_of: datetime, limit: int, window_months: int
) -> datetime | None:
    """None when a new request is allowed at `as_of`; otherwise the first moment it will be.

    A request counts while `as_of` is within `window_months` of its submission, so room opens
    when enough of the counted requests have aged out of the window.
    """
    start = window_start(as_of, window_months)
    counted = sorted(moment for moment in submitted if moment > start)
    if len(counted) < limit:
        return None
    return add_months(counted[len(counted) - limit], window_months)
