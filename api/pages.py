"""Helpers for the paginated list routes."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Response

from api.schemas import Page

T = TypeVar("T")


def page_response(page: Page[T]) -> Response:
    """A page as JSON. The store returns its rows as the item model already, so the page takes
    them as they are (a route's `response_model` would validate the items again; the routes keep
    it for the OpenAPI schema)."""
    return Response(page.model_dump_json(), media_type="application/json")
