"""Admission control's places: submits up to the capacity, decisions up to twice it, so that above
capacity new requests are shed before the decisions that finish accepted ones."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from api.observability import ObservabilityMiddleware
from application.admission import ARRIVED, InFlight, Limit
from application.errors import Failure


async def fill(in_flight: InFlight, held: AsyncExitStack, places: int) -> Failure:
    """Admit `places` submits, then as many decisions again, checking that one more of each is
    refused; the submit's refusal."""
    for _ in range(places):
        await held.enter_async_context(in_flight.admit("submit"))
    with pytest.raises(Failure) as refused:
        await held.enter_async_context(in_flight.admit("submit"))
    assert refused.value.code == "temporarily_unavailable"
    for _ in range(places):
        await held.enter_async_context(in_flight.admit("decide"))
    with pytest.raises(Failure):
        await held.enter_async_context(in_flight.admit("decide"))
    return refused.value


async def test_submits_are_refused_at_capacity_and_decisions_at_twice_it():
    in_flight = InFlight(2)
    async with AsyncExitStack() as held:
        refused = await fill(in_flight, held, places=2)
        assert refused.retry_after_seconds == 1
        assert in_flight.now == 4
    assert in_flight.now == 0  # every place is given back, refused or not
    async with in_flight.admit("submit"):
        assert in_flight.now == 1


async def test_a_place_is_given_back_when_the_work_fails():
    in_flight = InFlight(1)
    with pytest.raises(RuntimeError):
        async with in_flight.admit("submit"):
            raise RuntimeError("the use case failed")
    assert in_flight.now == 0


async def test_without_a_capacity_nothing_is_refused():
    in_flight = InFlight()
    async with AsyncExitStack() as held:
        for _ in range(1000):
            await held.enter_async_context(in_flight.admit("submit"))


class Clock:
    """Monotonic seconds that the test moves."""

    def __init__(self) -> None:
        self.at = 100.0

    def __call__(self) -> float:
        return self.at


async def answer(in_flight: InFlight, clock: Clock, took: float, work: str = "submit") -> None:
    async with in_flight.admit(work):
        clock.at += took


def test_the_limit_starts_at_the_ceiling_and_quick_answers_keep_it_there():
    limit = Limit(ceiling=12, within=1.0)
    for at in range(100):
        limit.answered(0.05, at=float(at))
    assert limit.places == 12


def test_a_slow_answer_cuts_the_limit_by_a_quarter_once_per_window():
    limit = Limit(ceiling=12, within=1.0)
    limit.answered(1.5, at=10.0)
    assert limit.places == 9
    # The rest of the same backlog answers slow too, within the same second: one cut, not twelve.
    for late in (10.1, 10.5, 10.99):
        limit.answered(1.6, at=late)
    assert limit.places == 9
    limit.answered(1.4, at=11.0)  # still slow a window later: cut again
    assert limit.places == 6  # 12 * 0.75 * 0.75 = 6.75


def after_a_minute_of_slow_answers() -> Limit:
    limit = Limit(ceiling=12, within=1.0)
    for second in range(60):
        limit.answered(30.0, at=float(second))
    return limit


def test_slow_answers_never_close_the_door():
    assert after_a_minute_of_slow_answers().places == 1


def test_quick_answers_win_the_places_back_about_one_per_limits_worth():
    limit = after_a_minute_of_slow_answers()
    quick = 0
    while limit.places < 12:
        limit.answered(0.05, at=100.0)
        quick += 1
    # Adding 1/limit at each: from one place to twelve in about (12² - 1) / 2 = 71.5 quick answers
    # (two and a half seconds at this machine's capacity).
    assert 65 <= quick <= 75
    for _ in range(100):
        limit.answered(0.05, at=100.0)
    assert limit.places == 12  # never above the ceiling


async def test_after_slow_answers_fewer_submits_are_admitted_and_decisions_keep_twice_as_many():
    clock = Clock()
    in_flight = InFlight(4, answer_within=timedelta(seconds=1), clock=clock)
    await answer(in_flight, clock, took=2.5)  # 4 → 3 places
    async with AsyncExitStack() as held:
        await fill(in_flight, held, places=3)


async def test_the_limit_of_the_moment_is_published_for_operators():
    clock = Clock()
    in_flight = InFlight(12, answer_within=timedelta(seconds=1), clock=clock)
    assert REGISTRY.get_sample_value("assocflow_admission_limit") == 12
    await answer(in_flight, clock, took=1.2)
    assert REGISTRY.get_sample_value("assocflow_admission_limit") == 9


async def test_an_answers_time_counts_from_the_requests_arrival_not_its_admission():
    """What the caller waits for includes the time before the use case (the event loop, the
    token's lookup): a request that waited 0.8 s to be admitted and then took 0.3 s is slow."""
    clock = Clock()
    in_flight = InFlight(12, answer_within=timedelta(seconds=1), clock=clock)
    arrived = ARRIVED.set(clock.at)
    try:
        clock.at += 0.8
        await answer(in_flight, clock, took=0.3)
    finally:
        ARRIVED.reset(arrived)
    assert in_flight.limit is not None and in_flight.limit.places == 9
    await answer(in_flight, clock, took=0.3)  # no arrival known: counted from admission, quick
    assert in_flight.limit.places == 9


async def test_the_http_edge_notes_each_requests_arrival_for_admission():
    seen: list[float | None] = []

    async def app(scope, receive, send):
        seen.append(ARRIVED.get())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    before = time.perf_counter()
    transport = httpx.ASGITransport(app=ObservabilityMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/v1/anything")).status_code == 204
    [arrived] = seen
    assert arrived is not None and before <= arrived <= time.perf_counter()
    assert ARRIVED.get() is None  # and forgets it once answered


async def test_without_an_answer_time_the_count_stays_at_the_capacity():
    clock = Clock()
    in_flight = InFlight(4, clock=clock)
    await answer(in_flight, clock, took=3600.0)
    assert in_flight.limit is not None and in_flight.limit.places == 4
