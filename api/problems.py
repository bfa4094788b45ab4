"""RFC 9457 problem details with a stable `code` member for every error the API returns."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.errors import Failure

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

# HTTP errors raised by the framework itself (unknown route, wrong method, ...).
_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


# The HTTP status of each code a use case fails with (application/errors.py).
STATUS_OF_CODE = {
    "validation_error": 422,
    "forbidden": 403,
    "not_found": 404,
    "check_failed": 422,
    "request_pending": 409,
    "request_limit_reached": 409,
    "not_pending": 409,
    "customer_already_associated": 409,
    "verification_required": 403,
    "mfa_enrolment_required": 403,
    "mfa_already_enrolled": 409,
    "mfa_not_enrolling": 409,
    "email_taken": 409,
    "sign_in_failed": 401,
    "sign_in_expired": 401,
    "sign_in_locked": 429,
    "password_rejected": 422,
    "gone": 410,
    "verification_code_incorrect": 422,
    "verification_code_expired": 422,
    "verification_locked": 429,
    "rate_limited": 429,
    "temporarily_unavailable": 503,
    "webhooks_unavailable": 503,
}

# Codes the API's edges answer with before a use case runs (api/deps.py, api/bodylimit.py,
# api/idempotency.py, /readyz).
STATUS_OF_EDGE_CODE = {
    "unauthorized": 401,
    "payload_too_large": 413,
    "idempotency_key_reused": 422,
    "idempotency_key_in_use": 409,
    "not_ready": 503,
}


def status_of(code: str) -> int:
    """The HTTP status a problem `code` is answered with."""
    return STATUS_OF_CODE.get(code) or STATUS_OF_EDGE_CODE[code]


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail or code)
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.title = title or HTTPStatus(status_code).phrase
        self.headers = headers
        self.extra = extra


def problem_response(
    status_code: int,
    code: str,
    detail: str | None = None,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:assocflow:problem:{code}",
        "title": title or HTTPStatus(status_code).phrase,
        "status": status_code,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(
        jsonable_encoder(body), status_code=status_code, media_type=MEDIA_TYPE, headers=headers
    )


def not_found(what: str = "resource") -> Problem:
    return Problem(404, "not_found", f"No {what} with this id is visible to you.")


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", detail)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status_code, exc.code, exc.detail, title=exc.title, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(Failure)
    async def _failure(_: Request, exc: Failure) -> JSONResponse:
        seconds = exc.retry_after_seconds
        return problem_response(
            STATUS_OF_CODE[exc.code],
            exc.code,
            exc.detail,
            headers=None if seconds is None else {"Retry-After": str(seconds)},
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": list(err.get("loc", ())),
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return problem_response(
            422, "validation_error", "The request is not valid; see `errors`.", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_OF_STATUS.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(exc.status_code, code, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal_error", "An unexpected error occurred.")
