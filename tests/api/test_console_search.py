"""Customer Management's search (the console's customers page): by any part of a customer's name,
any case, or by a customer's ID; only among the partner's own customers, whatever their number
(an index serves each: tests/integration/test_page_queries.py)."""

from __future__ import annotations

import uuid

import pytest

from tests.api.test_least_privilege import _console_as

pytestmark = pytest.mark.devserver


async def _named_customer(factory, partner_id, name: str):
    customer_id, _ = await factory.customer()
    await factory.fetch(
        "UPDATE customers SET name = %s WHERE id = %s RETURNING id", name, customer_id
    )
    await factory.association(partner_id, customer_id)
    return customer_id


async def test_a_partner_finds_its_customers_by_part_of_the_name_or_by_id(api, factory):
    world = await factory.world()
    tag = uuid.uuid4().hex[:6]
    contoso = await _named_customer(factory, world.partner_id, f"Contoso {tag} Ltd")
    await _named_customer(factory, world.partner_id, f"Fabrikam {tag}")
    other = await factory.partner()
    stranger = await _named_customer(factory, other, f"Contoso {tag} Elsewhere")
    cookie = await _console_as(factory, world.partner_admin_id)

    async def found(q: str) -> str:
        page = await api.get("/console/customers", params={"q": q}, headers=cookie)
        assert page.status_code == 200
        return page.text

    by_name = await found(f"TOSO {tag}")
    assert f"Contoso {tag} Ltd" in by_name and "Fabrikam" not in by_name
    assert "Elsewhere" not in by_name  # another partner's customer
    by_id = await found(str(contoso).upper())
    assert f"Contoso {tag} Ltd" in by_id and "Fabrikam" not in by_id
    assert "Elsewhere" not in await found(str(stranger))
    assert f"Fabrikam {tag}" in await found("")
