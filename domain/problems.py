"""Every problem `code` assocflow answers with: the stable names clients branch on (RFC 9457
problem documents from the API, refusals the workflow sends back, words beside a console form).
One enum, so that a code is written once and a misspelt one does not type-check."""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus
from typing import Any

MEDIA_TYPE = "application/problem+json"


class ProblemCode(StrEnum):
    # What a use case answers (application/errors.py `Failure`).
    VALIDATION_ERROR = "validation_error"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CHECK_FAILED = "check_failed"
    REQUEST_PENDING = "request_pending"
    REQUEST_LIMIT_REACHED = "request_limit_reached"
    NOT_PENDING = "not_pending"
    ALREADY_ANSWERED = "already_answered"
    CUSTOMER_ALREADY_ASSOCIATED = "customer_already_associated"
    VERIFICATION_REQUIRED = "verification_required"
    MFA_ENROLMENT_REQUIRED = "mfa_enrolment_required"
    MFA_ALREADY_ENROLLED = "mfa_already_enrolled"
    MFA_NOT_ENROLLING = "mfa_not_enrolling"
    EMAIL_TAKEN = "email_taken"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_EXPIRED = "sign_in_expired"
    SIGN_IN_LOCKED = "sign_in_locked"
    PASSWORD_REJECTED = "password_rejected"  # noqa: S105 (a code, not a password)
    GONE = "gone"
    VERIFICATION_CODE_INCORRECT = "verification_code_incorrect"
    VERIFICATION_CODE_EXPIRED = "verification_code_expired"
    VERIFICATION_LOCKED = "verification_locked"
    RATE_LIMITED = "rate_limited"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
    WEBHOOKS_UNAVAILABLE = "webhooks_unavailable"
    WEBHOOK_ENDPOINT_LIMIT_REACHED = "webhook_endpoint_limit_reached"
    # What `assocflow secrets rotate` (the CLI) answers.
    ENCRYPTION_KEY_INVALID = "encryption_key_invalid"
    ENCRYPTION_KEY_MISSING = "encryption_key_missing"
    SECRETS_UNREADABLE = "secrets_unreadable"
    # What the API's edges answer before a use case runs.
    UNAUTHORIZED = "unauthorized"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    NOT_READY = "not_ready"
    # HTTP errors raised by the framework itself (an unknown route, a wrong method, ...).
    BAD_REQUEST = "bad_request"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    CONFLICT = "conflict"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    ERROR = "error"  # another HTTP error of the framework's, with no code of its own
    INTERNAL_ERROR = "internal_error"


def document(
    status: int, code: ProblemCode, detail: str | None = None, *, title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """An RFC 9457 problem document: the same shape from every edge that answers with one."""
    body: dict[str, Any] = {
        "type": f"urn:assocflow:problem:{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body
