"""Who a bearer token stands for: the bootstrap operator token, or a token stored (hashed) for an
operator, a partner user or a customer."""

from __future__ import annotations

import hmac

from application.principal import Principal
from assocflow.settings import Settings
from domain.types import ADMIN_ROLE, Permission
from store import tokens
from store.db import Connection


async def identify(settings: Settings, conn: Connection, token: str) -> Principal | None:
    """Who a bearer token stands for, or None if it is unknown, expired or revoked."""
    bootstrap = settings.operator_token
    if bootstrap is not None and hmac.compare_digest(
        tokens.token_hash(token), tokens.token_hash(bootstrap.get_secret_value())
    ):
        return Principal(kind="operator", subject_id="bootstrap")
    row = await tokens.find_subject(conn, token)
    if row is None:
        return None
    kind, subject_id = row.subject_kind, row.subject_id
    if kind == "operator":
        return Principal(kind="operator", subject_id=subject_id)
    if kind == "customer":
        if row.customer_id is None:  # the customer no longer exists
            return None
        return Principal(
            kind="customer",
            subject_id=subject_id,
            customer_id=row.customer_id,
            verification_required=row.verification_required,
        )
    if row.partner_id is None or row.permissions is None:  # the user no longer exists
        return None
    granted = set(row.permissions)
    admin = ADMIN_ROLE in granted
    if admin:
        granted |= {p.value for p in Permission}
    return Principal(
        kind="partner_user",
        subject_id=subject_id,
        partner_id=row.partner_id,
        partner_type=row.partner_type,
        permissions=frozenset(granted),
        admin=admin,
        readable_partner_ids=(row.partner_id, *row.child_partner_ids),
        verification_required=row.verification_required,
    )
