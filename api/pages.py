"""Helpers for the paginated list routes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from api.problems import Problem
from store.pagination import InvalidCursor


@contextmanager
def cursor_problem() -> Iterator[None]:
    """Turn a cursor the API never issued into a 422 instead of a 500."""
    try:
        yield
    except InvalidCursor as exc:
        raise Problem(
            422, "validation_error", str(exc), errors=[{"loc": ["query", "cursor"]}]
        ) from exc
