"""RFC 9457 problem details with a stable `code` member for every error the API returns.

A problem's words — its `title` and `detail`, and the words inside its members (a failed check
item's `message`, an error's `msg` where assocflow wrote it) — are in the caller's language: the
first of its `Accept-Language` that assocflow has, else English (`Content-Language` says which).
The `code`, the `type` and every other member stay as they are, in any language. Errors of
pydantic's own validation keep its English `msg`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from application.errors import Failure
from assocflow import i18n
from domain.problems import MEDIA_TYPE, ProblemCode, document
from domain.text import Text

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
    ProblemCode.NOT_ACCEPTABLE: 406,  # content negotiation (api/routers/records.py)
}


def N_(message: str) -> str:
    """Marks `message` for the catalogue (pybabel's `N_` keyword); translated where it is sent."""
    return message


# The titles problems carry (HTTP's reason phrases, `HTTPStatus(status).phrase`) for the statuses
# assocflow answers with, marked for the catalogue: `problem_response` translates the title (and
# the framework's own detail, which is the same phrase).
TITLES = (
    N_("Bad Request"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Not Acceptable"),
    N_("Conflict"),
    N_("Gone"),
    N_("Request Entity Too Large"),
    N_("Content Too Large"),  # 413 and 422 as Python 3.13 names them
    N_("Unsupported Media Type"),
    N_("Unprocessable Entity"),
    N_("Unprocessable Content"),
    N_("Too Many Requests"),
    N_("Internal Server Error"),
    N_("Service Unavailable"),
)


UNEXPECTED = Text("An unexpected error occurred.")


def language_of(scope: Scope) -> str:
    """The language a problem is written in for this request: the first of its
    `Accept-Language` that assocflow has, else English."""
    return i18n.negotiate(None, Headers(scope=scope).get("accept-language"))


def _in_language(value: Any, language: str) -> Any:
    """`value` with every Text in it (at any depth of dicts and lists) in `language`."""
    if isinstance(value, str):
        return i18n.in_language(value, language)
    if isinstance(value, Mapping):
        return {key: _in_language(item, language) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_in_language(item, language) for item in value]
    return value


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
    language: str = i18n.DEFAULT_LANGUAGE,
    **extra: Any,
) -> JSONResponse:
    """The problem document, its words in `language` (`language_of` the request)."""
    title = i18n.gettext(language, title or HTTPStatus(status_code).phrase)
    body = document(
        status_code,
        code,
        i18n.in_language(detail, language) if detail else detail,
        title=title,
        **_in_language(extra, language),
    )
    said = {"Content-Language": language, "Vary": "Accept-Language"}
    return JSONResponse(
        jsonable_encoder(body),
        status_code=status_code,
        media_type=MEDIA_TYPE,
        headers={**(headers or {}), **said},
    )


def not_found(what: str = Text("resource")) -> Problem:
    return Problem(
        404, ProblemCode.NOT_FOUND, Text("No {what} with this id is visible to you.", what=what)
    )


def forbidden(detail: str) -> Problem:
    return Problem(403, ProblemCode.FORBIDDEN, detail)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status_code,
            exc.code,
            exc.detail,
            title=exc.title,
            headers=exc.headers,
            language=language_of(request.scope),
            **exc.extra,
        )

    @app.exception_handler(Failure)
    async def _failure(request: Request, exc: Failure) -> JSONResponse:
        seconds = exc.retry_after_seconds
        return problem_response(
            STATUS_OF_CODE[exc.code],
            exc.code,
            exc.detail,
            headers=None if seconds is None else {"Retry-After": str(seconds)},
            language=language_of(request.scope),
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
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
            Text("The request is not valid; see `errors`."),
            errors=errors,  # pydantic's `msg`: English
            language=language_of(request.scope),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_OF_STATUS.get(exc.status_code, ProblemCode.ERROR)
        language = language_of(request.scope)
        # The framework's detail is the status's reason phrase: one of TITLES.
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
        detail = i18n.gettext(language, detail) if detail else None
        return problem_response(
            exc.status_code, code, detail, headers=exc.headers, language=language
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500, ProblemCode.INTERNAL_ERROR, UNEXPECTED, language=language_of(request.scope)
        )
