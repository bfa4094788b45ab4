"""The activities of a request of any kind: each one a PostgreSQL transaction, each one safe to
run again after a crash at any line (see store/requests.py for how)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contract import (
    AcceptInput,
    Admission,
    ConsentInput,
    ReminderInput,
    RequestSnapshot,
    SettleInput,
    snapshot_of,
)
from store import requests
from store.accounts import AccountStandingSource

# Error types the workflow treats as final; retrying cannot fix them.
ASSOCIATION_NOT_FOUND = "AssociationNotFound"
REQUEST_NOT_FOUND = "RequestNotFound"


def _missing(error_type: str, message: str) -> ApplicationError:
    """A row that does not exist will not appear on a retry: fail for good."""
    return ApplicationError(message, type=error_type, non_retryable=True)


@contextmanager
def _final_if_missing(error_type: str) -> Iterator[None]:
    try:
        yield
    except LookupError as exc:
        raise _missing(error_type, str(exc)) from exc


class RequestActivities:
    """Accept, settle, remind: the same three steps for every kind (what differs by kind, the
    store does by domain/kinds.py)."""

    def __init__(self, pool: AsyncConnectionPool, standing: AccountStandingSource):
        self._pool = pool
        self._standing = standing

    @activity.defn
    async def accept_request(self, inp: AcceptInput) -> Admission:
        cmd = inp.command
        standing = cmd.standing
        if standing is None:  # a command of an earlier build: read it here
            standing = await self._standing.standing(cmd.customer_id)
        new = requests.NewRequest(
            request_id=cmd.request_id,
            association_id=cmd.association_id,
            initiator=cmd.initiator,
            requested_by=cmd.requested_by,
            reason=cmd.reason,
            policy=cmd.policy,
            kind=cmd.kind,
            new_type=cmd.new_type,
            new_partner_id=cmd.new_partner_id,
        )
        async with self._pool.connection() as conn:
            with _final_if_missing(ASSOCIATION_NOT_FOUND):
                check, request = await requests.accept(conn, new, standing, inp.accepted_at)
        if request is None:
            return Admission(accepted=False, check=check)
        return Admission(accepted=True, check=check, request=snapshot_of(request))

    @activity.defn
    async def settle_request(self, inp: SettleInput) -> RequestSnapshot:
        async with self._pool.connection() as conn:
            with _final_if_missing(REQUEST_NOT_FOUND):
                settled = await requests.settle(
                    conn,
                    inp.request_id,
                    inp.outcome,
                    inp.actor,
                    inp.reason,
                    inp.decided_at,
                    inp.decision_id,
                    {consent.who: consent.given for consent in inp.consents},
                )
        return snapshot_of(settled, settled.decision_id)

    @activity.defn
    async def record_consent(self, inp: ConsentInput) -> RequestSnapshot:
        async with self._pool.connection() as conn:
            with _final_if_missing(REQUEST_NOT_FOUND):
                recorded = await requests.record_consent(
                    conn, inp.request_id, inp.consent.who, inp.consent.given, inp.on_timeout
                )
        return snapshot_of(recorded)

    @activity.defn
    async def send_reminder(self, inp: ReminderInput) -> bool:
        async with self._pool.connection() as conn:
            return await requests.remind(conn, inp.request_id, inp.at)
