"""Admission control's places: submits up to the capacity, decisions up to twice it, so that above
capacity new requests are shed before the decisions that finish accepted ones."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest

from application.admission import InFlight
from application.errors import Failure


async def test_submits_are_refused_at_capacity_and_decisions_at_twice_it():
    in_flight = InFlight(2)
    async with AsyncExitStack() as held:
        for _ in range(2):
            await held.enter_async_context(in_flight.admit("submit"))
        with pytest.raises(Failure) as refused:
            await held.enter_async_context(in_flight.admit("submit"))
        assert refused.value.code == "temporarily_unavailable"
        assert refused.value.retry_after_seconds == 1
        for _ in range(2):
            await held.enter_async_context(in_flight.admit("decide"))
        with pytest.raises(Failure):
            await held.enter_async_context(in_flight.admit("decide"))
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
