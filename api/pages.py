"""Helpers for the paginated list routes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from fastapi import Response

from api.problems import Problem
from api.schemas import Page
from store.pagination import InvalidCursor

T = TypeVar("T")


@contextmanager
def cursor_problem() -> Iterator[None]:
    """Turn a cursor the API never issued into a 422 instead of a 500."""
    try:
        yield
    except InvalidCursor as exc:
        raise Problem(
            422, "validation_error", str(exc), errors=[{"loc": ["query", "cursor"]}]
        ) from exc


def page_response(page: Page[T]) -> Response:
    """A page as JSON. The store returns its rows as the item model already, so the page takes
    them as they are (a route's `response_model` would validate the items again; the routes keep
    it for the OpenAPI schema)."""
    return Response(page.model_dump_json(), media_type="application/json")
