"""The caller's own account: settings and the message center."""

from __future__ import annotations

from typing import Annotated, NoReturn
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import Field

from api.deps import App, Party
from api.pages import page_response
from api.schemas import Body, Limit, Page
from application import account
from application.account import Notification
from application.errors import Failure
from domain.problems import ProblemCode
from domain.text import Text
from store.rows import AccountLanguage, AccountSettings

router = APIRouter(tags=["account"])


class SettingsPatch(Body):
    verification_required: bool | None = Field(
        default=None, description="Whether submit, agree and reject need the person's code."
    )
    service_tokens_may_decide: bool | None = Field(
        default=None,
        description="Whether the account's service tokens may do those without a person.",
    )
    language: AccountLanguage | None = Field(
        default=None,
        description="The language of the account's messages (`en` or `zh-Hans`): those written"
        " from now on; a message keeps the language it was written in.",
    )
    verification_code: str | None = Field(
        default=None,
        max_length=32,
        description="The acting person's code: needed to turn verification off, or to let"
        " service tokens through, while verification is on.",
    )


@router.get("/v1/settings", response_model=AccountSettings, operation_id="getAccountSettings")
async def get_settings(who: Party, app: App) -> AccountSettings:
    """The account's settings: whether verification is required, whether its service tokens
    may do what verification guards, and the language its messages are written in. For the
    account's admins (the partner's `admin` role, or a customer's people), who may change them;
    not for a service token."""
    return await account.get_settings(app, who)


@router.patch("/v1/settings", response_model=AccountSettings, operation_id="updateAccountSettings")
async def update_settings(body: SettingsPatch, who: Party, app: App) -> AccountSettings:
    """Change the account's settings. Turning verification off, or letting service tokens
    through, needs the acting person's code while verification is on: otherwise a stolen token
    could switch the second factor off."""
    return await account.update_settings(
        app,
        who,
        verification_required=body.verification_required,
        service_tokens_may_decide=body.service_tokens_may_decide,
        language=body.language,
        verification_code=body.verification_code,
    )


@router.post(
    "/v1/verification-codes",
    status_code=410,
    deprecated=True,
    response_model=None,
    operation_id="requestVerificationCode",
)
async def verification_codes_are_gone() -> NoReturn:
    """Gone: codes sent to the message center proved nothing (anyone who could read the
    account's notifications could read them). Each person now has an authenticator app."""
    raise Failure(
        ProblemCode.GONE,
        Text(
            "Verification codes are no longer sent to the message center. Enrol an authenticator"
            " app (POST /v1/mfa/enrolment) and send its current code as `verification_code`."
        ),
        replacement="/v1/mfa/enrolment",
    )


@router.get(
    "/v1/notifications", response_model=Page[Notification], operation_id="listNotifications"
)
async def list_notifications(
    who: Party,
    app: App,
    unread: bool | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The account's message center, newest first; `unread=true` for the unread ones. Needs
    `associations:read` (a customer's people and token hold it)."""
    rows, next_cursor = await account.list_notifications(
        app, who, unread=unread, limit=limit, cursor=cursor
    )
    return page_response(Page[Notification](items=rows, next_cursor=next_cursor))


@router.post(
    "/v1/notifications/{notification_id}/read",
    response_model=Notification,
    operation_id="markNotificationRead",
)
async def mark_read(notification_id: UUID, who: Party, app: App) -> Notification:
    """Mark one of the account's notifications read. Needs `associations:read`."""
    return await account.mark_read(app, who, notification_id)
