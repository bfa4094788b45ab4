"""The activities of a disassociation request: each one a PostgreSQL transaction, each one safe to
run again after a crash at any line (see store/requests.py for how)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.checks import evaluate
from domain.types import (
    Actor,
    Admission,
    CheckResult,
    DisassociationRequest,
    Policy,
    RequestStatus,
    Side,
    SubmitCommand,
)
from store import associations, requests
from store.accounts import AccountStandingSource

# Error types the workflow treats as final; retrying cannot fix them.
ASSOCIATION_NOT_FOUND = "AssociationNotFound"
REQUEST_NOT_FOUND = "RequestNotFound"


class CheckInput(BaseModel):
    association_id: UUID
    customer_id: UUID
    initiator: Side
    policy: Policy
    as_of: datetime


class AcceptInput(BaseModel):
    command: SubmitCommand
    accepted_at: datetime


class SettleInput(BaseModel):
    request_id: UUID
    outcome: RequestStatus
    actor: Actor
    reason: str | None = None
    decided_at: datetime


class ReminderInput(BaseModel):
    request_id: UUID
    at: datetime


def _missing(error_type: str, message: str) -> ApplicationError:
    """A row that does not exist will not appear on a retry: fail for good."""
    return ApplicationError(message, type=error_type, non_retryable=True)


@contextmanager
def _final_if_missing(error_type: str) -> Iterator[None]:
    try:
        yield
    except LookupError as exc:
        raise _missing(error_type, str(exc)) from exc


class DisassociationActivities:
    def __init__(self, pool: AsyncConnectionPool, standing: AccountStandingSource):
        self._pool = pool
        self._standing = standing

    @activity.defn
    async def run_account_check(self, inp: CheckInput) -> CheckResult:
        standing = await self._standing.standing(inp.customer_id)
        async with self._pool.connection() as conn:
            found = await associations.check_facts(
                conn,
                inp.association_id,
                inp.initiator,
                standing,
                as_of=inp.as_of,
                window_months=inp.policy.request_window_months,
            )
        if found is None:
            raise _missing(
                ASSOCIATION_NOT_FOUND, f"association {inp.association_id} does not exist"
            )
        return evaluate(inp.initiator, found[1], inp.policy, inp.as_of)

    @activity.defn
    async def accept_request(self, inp: AcceptInput) -> Admission:
        standing = await self._standing.standing(inp.command.customer_id)
        async with self._pool.connection() as conn:
            with _final_if_missing(ASSOCIATION_NOT_FOUND):
                return await requests.accept(conn, inp.command, standing, inp.accepted_at)

    @activity.defn
    async def settle_request(self, inp: SettleInput) -> DisassociationRequest:
        async with self._pool.connection() as conn:
            with _final_if_missing(REQUEST_NOT_FOUND):
                return await requests.settle(
                    conn, inp.request_id, inp.outcome, inp.actor, inp.reason, inp.decided_at
                )

    @activity.defn
    async def send_reminder(self, inp: ReminderInput) -> bool:
        async with self._pool.connection() as conn:
            return await requests.remind(conn, inp.request_id, inp.at)
