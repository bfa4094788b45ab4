"""The caller's own account: settings, verification codes and the message center."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import AppSettings, Conn, Party, Pool, Principal
from api.pages import cursor_problem, page_response
from api.problems import not_found
from api.schemas import Body, Limit, Page
from application.guards import verified, within_rate
from domain.types import Permission
from store import accounts, audit, notifications, verification
from store.rows import Notification

router = APIRouter(tags=["account"])

Purpose = Literal["disassociation.submit", "disassociation.decide", "settings.update"]


class AccountSettings(BaseModel):
    verification_required: bool


class SettingsPatch(Body):
    verification_required: bool
    verification_code: str | None = Field(default=None, max_length=32)


class CodeRequest(Body):
    purpose: Purpose


class CodeSent(BaseModel):
    purpose: Purpose
    expires_at: datetime
    sent_to: Literal["message_center"] = "message_center"


@router.get("/v1/settings", response_model=AccountSettings)
async def get_settings(who: Party, conn: Conn) -> AccountSettings:
    account = who.account
    return AccountSettings(
        verification_required=await accounts.verification_required(conn, account.kind, account.id)
    )


@router.patch("/v1/settings", response_model=AccountSettings)
async def update_settings(
    body: SettingsPatch, who: Party, pool: Pool, settings: AppSettings
) -> AccountSettings:
    """Turn verification for sensitive operations on or off. Turning it off needs a code
    (purpose `settings.update`): otherwise a stolen token could switch the second factor off."""
    who.require_admin()
    account = who.account
    async with pool.connection() as conn:
        current = await accounts.verification_required(conn, account.kind, account.id)
    if current and not body.verification_required:
        await verified(
            pool, settings, who, "settings.update", body.verification_code, required=True
        )
    if current != body.verification_required:
        async with pool.connection() as conn, conn.transaction():
            await accounts.set_verification_required(
                conn, account.kind, account.id, body.verification_required
            )
            await audit.record(
                conn,
                who.ref,
                "settings.updated",
                account.kind,
                account.id,
                before={"verification_required": current},
                after={"verification_required": body.verification_required},
            )
    return AccountSettings(verification_required=body.verification_required)


_PURPOSE_PERMISSION = {
    "disassociation.submit": Permission.DISASSOCIATIONS_SUBMIT,
    "disassociation.decide": Permission.DISASSOCIATIONS_PROCESS,
}


def _may_request(who: Principal, purpose: Purpose) -> None:
    if purpose == "settings.update":
        who.require_admin()
    else:
        who.require(_PURPOSE_PERMISSION[purpose])


@router.post("/v1/verification-codes", status_code=202, response_model=CodeSent)
async def send_code(body: CodeRequest, who: Party, pool: Pool, settings: AppSettings) -> CodeSent:
    """Send a six-digit code, valid for ten minutes and once, to the account's message center."""
    _may_request(who, body.purpose)
    await within_rate(pool, who, "verification", settings.rate_limit_verification)
    account = who.account
    now = datetime.now(UTC)
    async with pool.connection() as conn, conn.transaction():
        code_id, code, expires_at = await verification.issue(conn, account, body.purpose, now)
        await notifications.notify(
            conn,
            recipients=[(account.kind, account.id, f"verification:{code_id}")],
            event_type="verification.code",
            summary=f"Your assocflow verification code is {code} ({body.purpose}). It expires at"
            f" {expires_at:%H:%M} UTC and works once.",
            data={"purpose": body.purpose, "code": code, "expires_at": expires_at.isoformat()},
            created_at=now,
        )
    return CodeSent(purpose=body.purpose, expires_at=expires_at)


@router.get("/v1/notifications", response_model=Page[Notification])
async def list_notifications(
    who: Party,
    conn: Conn,
    unread: bool | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The account's message center, newest first; `unread=true` for the unread ones."""
    account = who.account
    with cursor_problem():
        rows, next_cursor = await notifications.list_for(
            conn, account.kind, account.id, unread=unread, limit=limit, cursor=cursor
        )
    return page_response(Page[Notification](items=rows, next_cursor=next_cursor))


@router.post("/v1/notifications/{notification_id}/read", response_model=Notification)
async def mark_read(notification_id: UUID, who: Party, conn: Conn) -> Notification:
    account = who.account
    row = await notifications.mark_read(conn, account.kind, account.id, notification_id)
    if row is None:
        raise not_found("notification")
    return row
