"""The caller's own account: its settings, verification codes and message center."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from application.errors import not_found, paged
from application.guards import verified, within_rate
from application.principal import Principal
from application.services import Services
from domain.types import Permission
from store import accounts, audit, notifications, verification
from store.rows import Notification as Notification  # what the message center lists

# What a verification code is for.
Purpose = Literal["disassociation.submit", "disassociation.decide", "settings.update"]

_PURPOSE_PERMISSION = {
    "disassociation.submit": Permission.DISASSOCIATIONS_SUBMIT,
    "disassociation.decide": Permission.DISASSOCIATIONS_PROCESS,
}


async def verification_required(svc: Services, who: Principal) -> bool:
    """Whether the caller's account asks for a verification code for sensitive operations."""
    account = who.account
    async with svc.pool.connection() as conn:
        return await accounts.verification_required(conn, account.kind, account.id)


async def update_settings(
    svc: Services,
    who: Principal,
    *,
    verification_required: bool,
    verification_code: str | None = None,
) -> bool:
    """Turn verification for sensitive operations on or off (the partner's admins, or the
    customer). Turning it off needs a code (purpose `settings.update`): otherwise a stolen token
    could switch the second factor off. A change is on the audit log; returns the new value."""
    who.require_admin()
    account = who.account
    async with svc.pool.connection() as conn:
        current = await accounts.verification_required(conn, account.kind, account.id)
    if current and not verification_required:
        await verified(
            svc.pool, svc.settings, who, "settings.update", verification_code, required=True
        )
    if current != verification_required:
        async with svc.pool.connection() as conn, conn.transaction():
            await accounts.set_verification_required(
                conn, account.kind, account.id, verification_required
            )
            await audit.record(
                conn,
                who.ref,
                "settings.updated",
                account.kind,
                account.id,
                before={"verification_required": current},
                after={"verification_required": verification_required},
            )
    return verification_required


def _may_request(who: Principal, purpose: Purpose) -> None:
    if purpose == "settings.update":
        who.require_admin()
    else:
        who.require(_PURPOSE_PERMISSION[purpose])


async def send_code(svc: Services, who: Principal, purpose: Purpose) -> datetime:
    """Send a six-digit code, valid for ten minutes and once, to the account's message center;
    returns when it expires. Only those who may do what it is for may ask for one."""
    _may_request(who, purpose)
    await within_rate(svc.pool, who, "verification", svc.settings.rate_limit_verification)
    account = who.account
    now = datetime.now(UTC)
    async with svc.pool.connection() as conn, conn.transaction():
        code_id, code, expires_at = await verification.issue(conn, account, purpose, now)
        await notifications.notify(
            conn,
            recipients=[(account.kind, account.id, f"verification:{code_id}")],
            event_type="verification.code",
            summary=f"Your assocflow verification code is {code} ({purpose}). It expires at"
            f" {expires_at:%H:%M} UTC and works once.",
            data={"purpose": purpose, "code": code, "expires_at": expires_at.isoformat()},
            created_at=now,
        )
    return expires_at


@paged
async def list_notifications(
    svc: Services, who: Principal, *, unread: bool | None, limit: int, cursor: str | None
) -> tuple[list[Notification], str | None]:
    """The account's message center, newest first; `unread=True` for the unread ones."""
    account = who.account
    async with svc.pool.connection() as conn:
        return await notifications.list_for(
            conn, account.kind, account.id, unread=unread, limit=limit, cursor=cursor
        )


async def mark_read(svc: Services, who: Principal, notification_id: UUID) -> Notification:
    """Mark one of the account's notifications read (again is fine)."""
    account = who.account
    async with svc.pool.connection() as conn:
        row = await notifications.mark_read(conn, account.kind, account.id, notification_id)
    if row is None:
        raise not_found("notification")
    return row
