from datetime import UTC, datetime

import pytest

from domain.limits import add_months, next_allowed_at


def at(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (at(2026, 1, 15), 3, at(2026, 4, 15)),
        (at(2026, 11, 30), 3, at(2027, 2, 28)),  # clamped to the month's last day
        (at(2027, 11, 30), 3, at(2028, 2, 29)),  # leap year
        (at(2026, 5, 31), -3, at(2026, 2, 28)),
        (at(2026, 1, 31), -1, at(2025, 12, 31)),
        (at(2026, 3, 1), 0, at(2026, 3, 1)),
    ],
)
def test_add_months_keeps_day_and_time(start, months, expected):
    assert add_months(start, months) == expected


def test_first_request_is_allowed():
    assert next_allowed_at([], at(2026, 6, 1), limit=1, window_months=3) is None


def test_one_request_blocks_the_same_side_for_three_calendar_months():
    earlier = at(2026, 5, 10)
    assert next_allowed_at([earlier], at(2026, 6, 1), limit=1, window_months=3) == at(2026, 8, 10)
    # Once the window has passed, it no longer counts.
    assert next_allowed_at([earlier], at(2026, 8, 10, 13), limit=1, window_months=3) is None


def test_limit_counts_only_requests_inside_the_window():
    old, recent = at(2026, 1, 1), at(2026, 5, 1)
    assert next_allowed_at([old, recent], at(2026, 6, 1), limit=2, window_months=3) is None
    assert next_allowed_at([old, recent], at(2026, 6, 1), limit=1, window_months=3) == at(
        2026, 8, 1
    )


def test_with_a_higher_limit_room_opens_when_the_oldest_counted_request_ages_out():
    times = [at(2026, 4, 1), at(2026, 5, 1), at(2026, 5, 20)]
    assert next_allowed_at(times, at(2026, 6, 1), limit=3, window_months=3) == at(2026, 7, 1)
    assert next_allowed_at(times, at(2026, 6, 1), limit=2, window_months=3) == at(2026, 8, 1)
