"""Helpers for the paginated list routes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

from api.problems import Problem
from api.schemas import Page
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


@lru_cache
def _page_adapter(model: type[BaseModel]) -> TypeAdapter:
    return TypeAdapter(Page[model])  # type: ignore[valid-type]


def page_response(
    model: type[BaseModel], rows: list[dict[str, Any]], next_cursor: str | None
) -> Response:
    """A page of rows as JSON, validated once (a route's `response_model` would validate the
    items a second time; the routes keep it for the OpenAPI schema)."""
    adapter = _page_adapter(model)
    page = adapter.validate_python({"items": rows, "next_cursor": next_cursor})
    return Response(adapter.dump_json(page), media_type="application/json")
