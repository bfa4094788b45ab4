"""How a use case says no: a `Failure` with a stable code (the API's problem `code`), words for
people, and what else the caller needs (the failed check items, a status, when to retry).

The words are a `Text` (domain/text.py) wherever they are ours: its English, and what renders it
in the caller's language at the edge that answers (api/problems.py, the console).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from math import ceil
from typing import Any, ParamSpec, TypeVar

from domain.problems import ProblemCode
from domain.text import Text
from store.pagination import InvalidCursor

P = ParamSpec("P")
T = TypeVar("T")


class Failure(Exception):
    """A use case refused or could not complete. `code` is stable; `detail` is words for people
    (a Text, to be read in the caller's language); `extra` goes to the caller as it is (e.g.
    `items`, `request_status`, `next_allowed_at`; a Text in it is words too)."""

    def __init__(
        self,
        code: ProblemCode,
        detail: str,
        *,
        retry_after: timedelta | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.extra = extra

    @property
    def retry_after_seconds(self) -> int | None:
        if self.retry_after is None:
            return None
        return max(1, ceil(self.retry_after.total_seconds()))


def not_found(what: str) -> Failure:
    """`what`: a noun, as a Text ("association") to be read in the caller's language."""
    return Failure(
        ProblemCode.NOT_FOUND, Text("No {what} with this id is visible to you.", what=what)
    )


def forbidden(detail: str) -> Failure:
    return Failure(ProblemCode.FORBIDDEN, detail)


def invalid(field: str, message: str) -> Failure:
    return Failure(
        ProblemCode.VALIDATION_ERROR, message, errors=[{"loc": ["body", field], "msg": message}]
    )


def unavailable(detail: str, retry_after: timedelta = timedelta(seconds=5)) -> Failure:
    return Failure(ProblemCode.TEMPORARILY_UNAVAILABLE, detail, retry_after=retry_after)


# What store/pagination.py says of a cursor it cannot read, as words for the caller's language.
_CURSOR_REFUSED = Text("the cursor is not one this API returned")


def paged(use_case: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A list use case: a cursor it never issued is a `validation_error` on `cursor`."""

    @functools.wraps(use_case)
    async def listing(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await use_case(*args, **kwargs)
        except InvalidCursor as exc:
            raise Failure(
                ProblemCode.VALIDATION_ERROR,
                _CURSOR_REFUSED if str(exc) == _CURSOR_REFUSED else str(exc),
                errors=[{"loc": ["query", "cursor"]}],
            ) from exc

    return listing
