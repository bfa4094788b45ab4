"""Admission control: above capacity, a submit or a decision is refused at once rather than queued.

Each API process lets so much work be under way at once (`ASSOCFLOW_MAX_IN_FLIGHT` submits, and
twice as many submits and decisions together, each from the use case's first read to its
workflow's answer); one more is refused before the use case reads or writes anything, with 503
`temporarily_unavailable` and a Retry-After of a second. The
limit follows the work itself, not a rate: while the worker and the database keep up, work leaves
as fast as it comes and nothing is refused; when they fall behind, work under way piles up and the
next is turned away, so that what is admitted is still answered quickly instead of every caller
waiting behind a queue that only grows. A refusal takes nothing: the caller sends the same request
again (with its Idempotency-Key) and it is served as if it came then.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from application.errors import unavailable
from assocflow.metrics import REFUSED_AT_CAPACITY
from domain.text import Text

P = ParamSpec("P")
R = TypeVar("R")

RETRY_AFTER = timedelta(seconds=1)
BUSY = Text("assocflow is at capacity right now; nothing was done. Send the request again shortly.")


# Work that finishes what was admitted before (a decision on an accepted request) has places of
# its own beyond the capacity: shedding new submits first is what lets the work under way drain.
PLACES = {"submit": 1, "decide": 2}  # times the capacity


class InFlight:
    """The work under way in this process, and how much may be (`capacity`; None: no limit).

    A submit is admitted while less than `capacity` is under way; a decision while less than
    twice that, so that above capacity new requests are turned away before decisions on the
    requests already accepted."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.now = 0

    def has_room(self, work: str) -> bool:
        return self.capacity is None or self.now < self.capacity * PLACES[work]

    @asynccontextmanager
    async def admit(self, work: str) -> AsyncIterator[None]:
        """Hold a place for `work` (`submit`, `decide`) while it runs, or refuse it at once."""
        if not self.has_room(work):
            REFUSED_AT_CAPACITY.labels(work=work).inc()
            raise unavailable(BUSY, retry_after=RETRY_AFTER)
        self.now += 1
        try:
            yield
        finally:
            self.now -= 1


class Admits(Protocol):
    """What a use case admitted here runs on: the services, as far as admission sees them."""

    @property
    def in_flight(self) -> InFlight: ...


S = TypeVar("S", bound=Admits)


def admitted(
    work: str,
) -> Callable[
    [Callable[Concatenate[S, P], Awaitable[R]]],
    Callable[Concatenate[S, P], Awaitable[R]],
]:
    """A use case that runs only with a place in its process's work under way (`svc.in_flight`)."""

    def wrap(
        use_case: Callable[Concatenate[S, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, P], Awaitable[R]]:
        @functools.wraps(use_case)
        async def admitted_use_case(svc: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            async with svc.in_flight.admit(work):
                return await use_case(svc, *args, **kwargs)

        return admitted_use_case

    return wrap
