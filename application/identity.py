"""Who a bearer token stands for: the bootstrap operator token, or a token stored (hashed) for an
operator, a person (a partner user, a customer user) or an account (its service token). A person
signed in to the console is who a token of theirs would be (`principal_of`, used by both)."""

from __future__ import annotations

import hmac

from application.principal import Principal
from assocflow.settings import Settings
from domain.types import ADMIN_ROLE, Permission
from store import tokens
from store.db import Connection
from store.rows import TokenSubject


async def identify(settings: Settings, conn: Connection, token: str) -> Principal | None:
    """Who a bearer token stands for, or None if it is unknown, expired or revoked."""
    bootstrap = settings.operator_token
    if bootstrap is not None and hmac.compare_digest(
        tokens.token_hash(token), tokens.token_hash(bootstrap.get_secret_value())
    ):
        return Principal(kind="operator", subject_id="bootstrap")
    row = await tokens.find_subject(conn, token)
    return None if row is None else principal_of(row)


def principal_of(row: TokenSubject) -> Principal | None:
    """Who a subject (of a token, or of a console session) is and what they may do; None when the
    person or the account no longer exists."""
    kind, subject_id = row.subject_kind, row.subject_id
    if kind == "operator":
        return Principal(kind="operator", subject_id=subject_id)
    service = kind.endswith("_service")
    if kind in ("customer_user", "customer_service"):
        if row.customer_id is None:  # the person or the customer no longer exists
            return None
        return Principal(
            kind="customer",
            subject_id=subject_id,
            customer_id=row.customer_id,
            verification_required=row.verification_required,
            service=service,
            service_tokens_may_decide=row.service_tokens_may_decide,
        )
    if row.partner_id is None:  # the person or the partner no longer exists
        return None
    if kind == "partner_service":
        # An account's token: everything the partner's people may do but its settings.
        granted = {p.value for p in Permission}
        admin = False
    else:
        granted = set(row.permissions or ())
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
        service=service,
        service_tokens_may_decide=row.service_tokens_may_decide,
    )
