"""The caller's own account: its settings and message center."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from application.errors import not_found, paged
from application.guards import verified
from application.principal import READ_NOTIFICATIONS, Principal
from application.services import Services
from domain.text import Text
from store import accounts, audit, notifications
from store.rows import AccountLanguage, AccountSettings
from store.rows import Notification as Notification  # what the message center lists


async def get_settings(svc: Services, who: Principal) -> AccountSettings:
    """The caller's account's settings: whether verification guards sensitive operations, and
    whether its service tokens may do them anyway. For who may change them (the account's
    admins): the others learn what concerns them where it does (a person's own principal says
    whether their account requires verification; a refused action says a code is needed)."""
    who.require_admin()
    account = who.account
    async with svc.pool.connection() as conn:
        return await accounts.account_settings(conn, account.kind, account.id)


async def update_settings(
    svc: Services,
    who: Principal,
    *,
    verification_required: bool | None = None,
    service_tokens_may_decide: bool | None = None,
    language: AccountLanguage | None = None,
    verification_code: str | None = None,
) -> AccountSettings:
    """Change the account's settings (the partner's admins, or the customer). What weakens the
    second factor — turning verification off, letting service tokens through — needs the acting
    person's code while verification is on: otherwise a stolen token could switch it off. The
    `language` of the account's messages applies to those written from now on: a message keeps
    the language it was written in. A change is on the audit log; returns the settings as they
    are now."""
    who.require_admin()
    account = who.account
    async with svc.pool.connection() as conn:
        current = await accounts.account_settings(conn, account.kind, account.id)
    wanted = AccountSettings(
        verification_required=current.verification_required
        if verification_required is None
        else verification_required,
        service_tokens_may_decide=current.service_tokens_may_decide
        if service_tokens_may_decide is None
        else service_tokens_may_decide,
        language=current.language if language is None else language,
    )
    weakens = current.verification_required and (
        not wanted.verification_required
        or (wanted.service_tokens_may_decide and not current.service_tokens_may_decide)
    )
    if weakens:
        # The account's service tokens never weaken it themselves.
        caller = replace(who, service_tokens_may_decide=False)
        await verified(
            svc, caller, Text("weakening verification"), verification_code, required=True
        )
    if wanted != current:
        async with svc.pool.connection() as conn, conn.transaction():
            await accounts.set_account_settings(conn, account.kind, account.id, wanted)
            await audit.record(
                conn,
                who.ref,
                "settings.updated",
                account.kind,
                account.id,
                before=current.model_dump(),
                after=wanted.model_dump(),
            )
    return wanted


@paged
async def list_notifications(
    svc: Services, who: Principal, *, unread: bool | None, limit: int, cursor: str | None
) -> tuple[list[Notification], str | None]:
    """The account's message center, newest first; `unread=True` for the unread ones. For who
    may read the associations it tells of."""
    who.require(READ_NOTIFICATIONS)
    account = who.account
    async with svc.pool.connection() as conn:
        return await notifications.list_for(
            conn, account.kind, account.id, unread=unread, limit=limit, cursor=cursor
        )


async def mark_read(svc: Services, who: Principal, notification_id: UUID) -> Notification:
    """Mark one of the account's notifications read (again is fine): who may read them."""
    who.require(READ_NOTIFICATIONS)
    account = who.account
    async with svc.pool.connection() as conn:
        row = await notifications.mark_read(conn, account.kind, account.id, notification_id)
    if row is None:
        raise not_found(Text("notification"))
    return row
