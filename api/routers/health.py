"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import Temporal, pool_dep
from api.problems import problem_response

router = APIRouter(tags=["health"])

READY_CHECK_TIMEOUT = 3.0


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus_metrics() -> PlainTextResponse:
    """assocflow's API metrics in the Prometheus text format."""
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up; touches nothing else."""
    return {"status": "ok"}


async def _postgres_ok(pool: AsyncConnectionPool) -> bool:
    async with pool.connection(timeout=READY_CHECK_TIMEOUT) as conn:
        await conn.execute("SELECT 1")
    return True


@router.get("/readyz", responses={503: {"description": "PostgreSQL or Temporal is unreachable"}})
async def readyz(
    pool: Annotated[AsyncConnectionPool, Depends(pool_dep)], temporal: Temporal
) -> JSONResponse:
    """Ready when both PostgreSQL and Temporal answer."""
    checks = {
        "postgres": _postgres_ok(pool),
        "temporal": temporal.workflow_service.get_system_info(GetSystemInfoRequest()),
    }
    results: dict[str, str] = {}
    for name, probe in checks.items():
        try:
            async with asyncio.timeout(READY_CHECK_TIMEOUT):
                await probe
            results[name] = "ok"
        except Exception as err:  # any failure means not ready; the reason is reported
            results[name] = f"unavailable: {type(err).__name__}"
    if all(value == "ok" for value in results.values()):
        return JSONResponse({"status": "ready", "checks": results})
    return problem_response(
        503,
        "not_ready",
        "A dependency is unavailable.",
        checks=results,
        headers={"Retry-After": "5"},
    )
