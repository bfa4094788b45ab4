"""What part of the data a caller may read: a set of partners, or one customer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Scope:
    partner_ids: tuple[UUID, ...] = ()
    customer_id: UUID | None = None

    def clause(
        self,
        params: dict[str, Any],
        alias: str = "",
        *,
        partner_columns: tuple[str, ...] = ("partner_id",),
    ) -> str:
        """A WHERE clause limiting rows (that carry partner_id/customer_id) to this scope; a
        partner's are those that name it in any of `partner_columns`."""
        prefix = f"{alias}." if alias else ""
        if self.customer_id is not None:
            params["scope_customer_id"] = self.customer_id
            return f"{prefix}customer_id = %(scope_customer_id)s"
        if len(self.partner_ids) == 1:  # equality keeps an ordered index scan possible
            params["scope_partner_id"] = self.partner_ids[0]
            test = "= %(scope_partner_id)s"
        else:
            params["scope_partner_ids"] = list(self.partner_ids)
            test = "= ANY(%(scope_partner_ids)s)"
        either = " OR ".join(f"{prefix}{column} {test}" for column in partner_columns)
        return either if len(partner_columns) == 1 else f"({either})"
