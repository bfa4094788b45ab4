"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import App
from api.problems import language_of, problem_response
from application import health
from domain.problems import ProblemCode
from domain.text import Text

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=PlainTextResponse, operation_id="getMetrics")
async def prometheus_metrics() -> PlainTextResponse:
    """assocflow's API metrics in the Prometheus text format."""
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", operation_id="getLiveness")
async def healthz() -> dict[str, str]:
    """The process is up; touches nothing else."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="getReadiness")
async def readyz(request: Request, app: App) -> JSONResponse:
    """Ready when both PostgreSQL and Temporal answer."""
    results = await health.readiness(app)
    if all(value == "ok" for value in results.values()):
        return JSONResponse({"status": "ready", "checks": results})
    return problem_response(
        503,
        ProblemCode.NOT_READY,
        Text("A dependency is unavailable."),
        checks=results,
        headers={"Retry-After": "5"},
        language=language_of(request.scope),
    )
