"""The caller's own account: settings, verification codes and the message center."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import App, Party
from api.pages import page_response
from api.schemas import Body, Limit, Page
from application import account
from application.account import Notification, Purpose

router = APIRouter(tags=["account"])


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
async def get_settings(who: Party, app: App) -> AccountSettings:
    return AccountSettings(verification_required=await account.verification_required(app, who))


@router.patch("/v1/settings", response_model=AccountSettings)
async def update_settings(body: SettingsPatch, who: Party, app: App) -> AccountSettings:
    """Turn verification for sensitive operations on or off. Turning it off needs a code
    (purpose `settings.update`): otherwise a stolen token could switch the second factor off."""
    required = await account.update_settings(
        app,
        who,
        verification_required=body.verification_required,
        verification_code=body.verification_code,
    )
    return AccountSettings(verification_required=required)


@router.post("/v1/verification-codes", status_code=202, response_model=CodeSent)
async def send_code(body: CodeRequest, who: Party, app: App) -> CodeSent:
    """Send a six-digit code, valid for ten minutes and once, to the account's message center."""
    expires_at = await account.send_code(app, who, body.purpose)
    return CodeSent(purpose=body.purpose, expires_at=expires_at)


@router.get("/v1/notifications", response_model=Page[Notification])
async def list_notifications(
    who: Party,
    app: App,
    unread: bool | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The account's message center, newest first; `unread=true` for the unread ones."""
    rows, next_cursor = await account.list_notifications(
        app, who, unread=unread, limit=limit, cursor=cursor
    )
    return page_response(Page[Notification](items=rows, next_cursor=next_cursor))


@router.post("/v1/notifications/{notification_id}/read", response_model=Notification)
async def mark_read(notification_id: UUID, who: Party, app: App) -> Notification:
    return await account.mark_read(app, who, notification_id)
