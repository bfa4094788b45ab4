"""Admission control: above capacity, a submit or a decision is refused at once rather than queued.

Each API process lets so much work be under way at once (up to `ASSOCFLOW_MAX_IN_FLIGHT` submits,
and twice as many submits and decisions together, each from the use case's first read to its
workflow's answer); one more is refused before the use case reads or writes anything, with 503
`temporarily_unavailable` and a Retry-After of a second. The limit follows the work itself, not a
rate: while the worker and the database keep up, work leaves as fast as it comes and nothing is
refused; when they fall behind, work under way piles up and the next is turned away, so that what
is admitted is still answered quickly instead of every caller waiting behind a queue that only
grows. A refusal takes nothing: the caller sends the same request again (with its
Idempotency-Key) and it is served as if it came then.

How much is "so much" follows the answers too. A fixed count keeps answers quick only on the
machine it was chosen for: the same twelve submits take twice as long to drain when the machine
runs at half speed. So the count is a ceiling, and below it the process admits less after an
admitted request took longer than `ASSOCFLOW_ANSWER_WITHIN` (half a second) to answer from its
arrival, and more again, a little at a time, while answers come within it (`Limit`: additive
increase, multiplicative decrease, as TCP finds how much a network carries). Half a second, a
quarter of the two seconds a caller should wait at most, leaves room for what the process does
not see: the network, and the time a request waits for the process before it arrives.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from application.errors import unavailable
from assocflow.metrics import ADMISSION_LIMIT, REFUSED_AT_CAPACITY
from domain.text import Text

P = ParamSpec("P")
R = TypeVar("R")

RETRY_AFTER = timedelta(seconds=1)
BUSY = Text("assocflow is at capacity right now; nothing was done. Send the request again shortly.")


# Work that finishes what was admitted before (a decision on an accepted request) has places of
# its own beyond the capacity: shedding new submits first is what lets the work under way drain.
PLACES = {"submit": 1, "decide": 2}  # times the limit

# When the request being served reached this process (time.perf_counter), set by the HTTP edge. An
# answer's time is counted from there, not from its admission: what the caller waits for includes
# the time the request waited for the process before its use case (the event loop, the token's
# lookup), and when the machine is short of CPU that grows too.
ARRIVED: ContextVar[float | None] = ContextVar("assocflow_arrived", default=None)

# After a slow answer the limit is cut to this share of itself; answers that come back slow
# together are one sign of one backlog, so it is cut at most once per `within`.
BACK_OFF = 0.75


@dataclass
class Limit:
    """How many submits may be under way, learnt from how long admitted work took to answer.

    Starts at the `ceiling`. An answer slower than `within` cuts it to `BACK_OFF` of itself (not
    below one, and not again until `within` has passed, so one backlog is one cut); an answer
    within it adds `1 / limit`, about one place for each limit's worth of quick answers, never
    above the ceiling."""

    ceiling: int
    within: float  # seconds
    value: float = field(init=False)
    _cut_at: float = field(init=False, default=-math.inf)

    def __post_init__(self) -> None:
        self.value = float(self.ceiling)

    @property
    def places(self) -> int:
        return max(1, math.floor(self.value))

    def answered(self, took: float, at: float) -> None:
        """Admitted work answered at `at`, `took` seconds after its request arrived."""
        if took <= self.within:
            self.value = min(float(self.ceiling), self.value + 1 / self.value)
        elif at - self._cut_at >= self.within:
            self.value = max(1.0, self.value * BACK_OFF)
            self._cut_at = at


class InFlight:
    """The work under way in this process, and how much may be (`limit`; None: no limit).

    A submit is admitted while less than the limit's places are under way; a decision while less
    than twice that, so that above capacity new requests are turned away before decisions on the
    requests already accepted. Without `answer_within` the count stays at the `capacity`.
    `clock` is monotonic seconds, the HTTP edge's (`ARRIVED`)."""

    def __init__(
        self,
        capacity: int | None = None,
        answer_within: timedelta | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        within = math.inf if answer_within is None else answer_within.total_seconds()
        self.limit = Limit(capacity, within) if capacity else None
        self.now = 0
        self._clock = clock
        self._show()

    def has_room(self, work: str) -> bool:
        return self.limit is None or self.now < self.limit.places * PLACES[work]

    @asynccontextmanager
    async def admit(self, work: str) -> AsyncIterator[None]:
        """Hold a place for `work` (`submit`, `decide`) while it runs, or refuse it at once."""
        if not self.has_room(work):
            REFUSED_AT_CAPACITY.labels(work=work).inc()
            raise unavailable(BUSY, retry_after=RETRY_AFTER)
        self.now += 1
        arrived = ARRIVED.get()
        since = self._clock() if arrived is None else arrived
        try:
            yield
        finally:
            self.now -= 1
            self._answered(since)

    def _answered(self, since: float) -> None:
        if self.limit is not None:
            at = self._clock()
            self.limit.answered(at - since, at)
            self._show()

    def _show(self) -> None:
        if self.limit is not None:
            ADMISSION_LIMIT.set(self.limit.places)


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
