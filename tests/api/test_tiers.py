"""Partner tiers: a distributor or PSP reads what its resellers see but acts only for its own
customers; a frozen partner, or one under a frozen distributor, fails the check (not a 500)."""

from __future__ import annotations

import pytest

from tests.api.test_disassociations import assert_problem, decide, submit
from tests.factories import bearer

pytestmark = pytest.mark.devserver


@pytest.mark.parametrize("parent_type", ["distributor", "psp"])
async def test_a_parent_reads_its_resellers_business_and_acts_only_on_its_own(
    api, factory, parent_type
):
    parent = await factory.partner(parent_type)
    _, parent_admin = await factory.user(parent, ["admin"])
    reseller = await factory.partner("reseller", parent=parent)
    reseller_customer, reseller_customer_token = await factory.customer()
    reseller_association = await factory.association(reseller, reseller_customer)
    own_customer, _ = await factory.customer()
    own_association = await factory.association(parent, own_customer)
    request_id = (await submit(api, reseller_customer_token, reseller_association)).json()["id"]

    listed = await api.get("/v1/associations", headers=bearer(parent_admin))
    assert {a["id"] for a in listed.json()["items"]} == {
        str(reseller_association),
        str(own_association),
    }
    requests = await api.get("/v1/disassociations", headers=bearer(parent_admin))
    assert [r["id"] for r in requests.json()["items"]] == [request_id]
    records = await api.get(
        f"/v1/association-records?customer_id={reseller_customer}", headers=bearer(parent_admin)
    )
    assert {r["action"] for r in records.json()["items"]} == {"associated", "requested"}

    assert_problem(await decide(api, parent_admin, request_id, "agree"), 403, "forbidden")
    assert_problem(await submit(api, parent_admin, reseller_association), 403, "forbidden")
    assert (await submit(api, parent_admin, own_association)).status_code == 201


async def test_a_reseller_sees_nothing_of_its_parent_or_siblings(api, factory):
    world = await factory.world()
    sibling = await factory.partner("reseller", parent=world.distributor_id)
    sibling_customer, _ = await factory.customer()
    sibling_association = await factory.association(sibling, sibling_customer)
    parents_customer, _ = await factory.customer()
    parents_association = await factory.association(world.distributor_id, parents_customer)
    listed = await api.get("/v1/associations", headers=bearer(world.partner_admin))
    assert [a["id"] for a in listed.json()["items"]] == [str(world.association_id)]
    for association in (sibling_association, parents_association):
        response = await api.get(
            f"/v1/associations/{association}", headers=bearer(world.partner_admin)
        )
        assert_problem(response, 404, "not_found")


async def test_a_frozen_partner_fails_its_own_check_and_customers_still_may_leave(api, factory):
    world = await factory.world(partner_frozen=True)
    check = await api.post(
        "/v1/disassociation-checks", json={"association_id": str(world.association_id)},
        headers=bearer(world.partner_admin),
    )  # fmt: skip
    assert check.status_code == 200
    [item] = [i for i in check.json()["items"] if not i["passed"]]
    assert item["code"] == "partner_not_frozen" and "frozen" in item["message"]
    refused = await submit(api, world.partner_admin, world.association_id)
    assert_problem(refused, 422, "check_failed")
    assert (await submit(api, world.customer, world.association_id)).status_code == 201
