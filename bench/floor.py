"""The framework floor for GET /v1/association-records: a minimal FastAPI app on the same uvicorn
that runs the same SQL (the store function the route calls, for the same partner) and renders
the same JSON (the same page model), with nothing else — no authentication, middleware, logging
or metrics. `python -m bench.floor DATABASE_URL PARTNER_ID PORT` serves it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

import uvicorn
from fastapi import FastAPI, Query, Request, Response

from api.schemas import Page, Record
from assocflow.process import run_main
from server.__main__ import SERVING
from store import records
from store.db import open_pool
from store.scope import Scope


def create_app(database_url: str, partner_id: UUID) -> FastAPI:
    scope = Scope(partner_ids=(partner_id,))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_pool(database_url)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/association-records")
    async def list_records(
        request: Request,
        kind: str | None = None,
        customer_id: UUID | None = None,
        status: str | None = None,
        from_: Annotated[datetime | None, Query(alias="from")] = None,
        to: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Response:
        async with request.app.state.pool.connection() as conn:
            rows, next_cursor = await records.list_records(
                conn, scope, kind=kind, customer_id=customer_id, status=status,
                from_=from_, to=to, limit=limit, cursor=cursor,
            )  # fmt: skip
        page = Page[Record](items=rows, next_cursor=next_cursor)
        return Response(page.model_dump_json(), media_type="application/json")

    return app


def serve(database_url: str, partner_id: str, port: int) -> None:
    # Served as `python -m server` serves.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(
            create_app(database_url, UUID(partner_id)),
            host="127.0.0.1",
            port=port,
            **SERVING,
            proxy_headers=True,
        )


if __name__ == "__main__":
    run_main(lambda: serve(sys.argv[1], sys.argv[2], int(sys.argv[3])))
