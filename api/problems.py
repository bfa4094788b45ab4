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
from domain.problems import MEDIA_TYPE, ProblemCode, document

log = logging.getLogger(__name__)


# HTTP errors raised by the framework itself (unknown route, wrong method, ...).
_CODE_OF_STATUS = {
    400: ProblemCode.BAD_REQUEST,
    401: ProblemCode.UNAUTHORIZED,
    403: ProblemCode.FORBIDDEN,
    404: ProblemCode.NOT_FOUND,
    405: ProblemCode.METHOD_NOT_ALLOWED,
    406: ProblemCode.NOT_ACCEPTABLE,
    409: ProblemCode.CONFLICT,
    413: ProblemCode.PAYLOAD_TOO_LARGE,
    415: ProblemCode.UNSUPPORTED_MEDIA_TYPE,
    422: ProblemCode.VALIDATION_ERROR,
    429: ProblemCode.RATE_LIMITED,
}


# The HTTP status of each code a use case fails with (application/errors.py).
STATUS_OF_CODE = {
    ProblemCode.VALIDATION_ERROR: 422,
    ProblemCode.FORBIDDEN: 403,
    ProblemCode.NOT_FOUND: 404,
    ProblemCode.CHECK_FAILED: 422,
    ProblemCode.REQUEST_PENDING: 409,
    ProblemCode.REQUEST_LIMIT_REACHED: 409,
    ProblemCode.NOT_PENDING: 409,
    ProblemCode.ALREADY_ANSWERED: 409,
    ProblemCode.CUSTOMER_ALREADY_ASSOCIATED: 409,
    ProblemCode.VERIFICATION_REQUIRED: 403,
    ProblemCode.MFA_ENROLMENT_REQUIRED: 403,
    ProblemCode.MFA_ALREADY_ENROLLED: 409,
    ProblemCode.MFA_NOT_ENROLLING: 409,
    ProblemCode.EMAIL_TAKEN: 409,
    ProblemCode.SIGN_IN_FAILED: 401,
    ProblemCode.SIGN_IN_EXPIRED: 401,
    ProblemCode.SIGN_IN_LOCKED: 429,
    ProblemCode.PASSWORD_REJECTED: 422,
    ProblemCode.GONE: 410,
    ProblemCode.VERIFICATION_CODE_INCORRECT: 422,
    ProblemCode.VERIFICATION_CODE_EXPIRED: 422,
    ProblemCode.VERIFICATION_LOCKED: 429,
    ProblemCode.RATE_LIMITED: 429,
    ProblemCode.TEMPORARILY_UNAVAILABLE: 503,
    ProblemCode.WEBHOOKS_UNAVAILABLE: 503,
    ProblemCode.WEBHOOK_ENDPOINT_LIMIT_REACHED: 409,
}

# Codes the API's edges answer with before a use case runs (api/deps.py, api/bodylimit.py,
# api/idempotency.py, /readyz).
STATUS_OF_EDGE_CODE = {
    ProblemCode.UNAUTHORIZED: 401,
    ProblemCode.PAYLOAD_TOO_LARGE: 413,
    ProblemCode.IDEMPOTENCY_KEY_REUSED: 422,
    ProblemCode.IDEMPOTENCY_KEY_IN_USE: 409,
    ProblemCode.NOT_READY: 503,
}


def status_of(code: str) -> int:
    """The HTTP status a problem `code` is answered with (ValueError for a code that is none)."""
    problem = ProblemCode(code)
    return STATUS_OF_CODE.get(problem) or STATUS_OF_EDGE_CODE[problem]


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status_code: int,
        code: ProblemCode,
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
    code: ProblemCode,
    detail: str | None = None,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = document(status_code, code, detail, title=title, **extra)
    return JSONResponse(
        jsonable_encoder(body), status_code=status_code, media_type=MEDIA_TYPE, headers=headers
    )


def not_found(what: str = "resource") -> Problem:
    return Problem(404, ProblemCode.NOT_FOUND, f"No {what} with this id is visible to you.")


def forbidden(detail: str) -> Problem:
    return Problem(403, ProblemCode.FORBIDDEN, detail)


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
            422,
            ProblemCode.VALIDATION_ERROR,
            "The request is not valid; see `errors`.",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_OF_STATUS.get(exc.status_code, ProblemCode.ERROR)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(exc.status_code, code, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, ProblemCode.INTERNAL_ERROR, "An unexpected error occurred.")
