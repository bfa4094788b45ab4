"""Operators set up real data through /v1/admin, starting from ASSOCFLOW_OPERATOR_TOKEN."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from tests.api.test_disassociations import assert_problem, submit
from tests.factories import bearer

OPERATOR = bearer("test-operator-token")


async def post(api, path, body, headers=OPERATOR):
    return await api.post(f"/v1/admin{path}", json=body, headers=headers)


async def test_an_operator_builds_a_partner_network_and_its_users_can_act(api, factory):
    distributor = await post(api, "/partners", {"name": "Dist", "type": "distributor"})
    assert distributor.status_code == 201, distributor.text
    reseller = await post(
        api,
        "/partners",
        {"name": "Resell", "type": "reseller", "parent_partner_id": distributor.json()["id"]},
    )
    assert (
        reseller.status_code == 201
        and reseller.json()["parent_partner_id"] == distributor.json()["id"]
    )
    user = await post(
        api,
        f"/partners/{reseller.json()['id']}/users",
        {"name": "Ann", "email": f"ann-{uuid4().hex}@reseller.test", "permissions": ["admin"]},
    )
    customer = await post(api, "/customers", {"name": "Cust"})
    association = await post(
        api,
        "/associations",
        {
            "partner_id": reseller.json()["id"],
            "customer_id": customer.json()["id"],
            "association_type": "referral",
        },
    )
    assert association.status_code == 201 and association.json()["status"] == "active"
    token = await post(
        api, "/tokens", {"subject_kind": "partner_user", "subject_id": user.json()["id"]}
    )
    assert token.status_code == 201 and token.json()["token"].startswith("af_")
    assert token.headers["cache-control"] == "no-store"
    # The new token works, sees the association, and may submit.
    listed = await api.get("/v1/associations", headers=bearer(token.json()["token"]))
    assert [a["id"] for a in listed.json()["items"]] == [association.json()["id"]]
    created = await submit(api, token.json()["token"], association.json()["id"])
    assert created.status_code == 201, created.text
    # Only the hash is stored.
    stored = await factory.fetch(
        "SELECT token_hash FROM api_tokens WHERE id = %s", token.json()["id"]
    )
    assert token.json()["token"].encode() not in bytes(stored[0]["token_hash"])
    assert len(stored[0]["token_hash"]) == 32


async def test_standing_is_put_and_drives_the_check(api, factory):
    world = await factory.world()
    put = await api.put(
        f"/v1/admin/customers/{world.customer_id}/standing",
        json={"active_reserved_instances": 2, "special_contract": True},
        headers=OPERATOR,
    )
    assert put.status_code == 200, put.text
    assert put.json()["active_reserved_instances"] == 2 and put.json()["currency_set"] is True
    [entry] = (await api.get("/v1/admin/audit-log?limit=1", headers=OPERATOR)).json()["items"]
    assert (entry["action"], entry["target_id"]) == ("standing.updated", str(world.customer_id))
    assert (
        entry["before"]["active_reserved_instances"] == 0
        and entry["after"]["active_reserved_instances"] == 2
    )
    check = await api.post(
        "/v1/disassociation-checks",
        json={"association_id": str(world.association_id)},
        headers=bearer(world.customer),
    )
    failed = {i["code"] for i in check.json()["items"] if not i["passed"]}
    assert failed == {"no_active_reserved_instances", "no_special_contract"}
    bad = await api.put(
        f"/v1/admin/customers/{world.customer_id}/standing",
        json={"unused_vouchers": -1},
        headers=OPERATOR,
    )
    assert_problem(bad, 422, "validation_error")


async def test_type_change_is_recorded_with_before_and_after(api, factory):
    world = await factory.world(association_type="referral")
    changed = await api.patch(
        f"/v1/admin/associations/{world.association_id}",
        json={"association_type": "resale", "reason": "Contract renewed"},
        headers=OPERATOR,
    )
    assert changed.status_code == 200 and changed.json()["association_type"] == "resale"
    records = await api.get(
        "/v1/association-records?kind=type_change", headers=bearer(world.partner_reader)
    )
    [record] = records.json()["items"]
    assert record["before"] == {"association_type": "referral"}
    assert record["after"] == {"association_type": "resale"}
    assert record["actor"] == "operator:bootstrap" and record["reason"] == "Contract renewed"


async def test_a_customer_has_one_active_partner_at_a_time(api, factory):
    world = await factory.world()
    other_partner = await post(api, "/partners", {"name": "Other", "type": "reseller"})
    again = await post(
        api,
        "/associations",
        {
            "partner_id": other_partner.json()["id"],
            "customer_id": str(world.customer_id),
            "association_type": "resale",
        },
    )
    assert_problem(again, 409, "customer_already_associated")


async def test_partner_tiers_are_validated(api):
    reseller = await post(api, "/partners", {"name": "R", "type": "reseller"})
    under_reseller = await post(
        api,
        "/partners",
        {"name": "R2", "type": "reseller", "parent_partner_id": reseller.json()["id"]},
    )
    assert_problem(under_reseller, 422, "validation_error")
    distributor = await post(api, "/partners", {"name": "D", "type": "distributor"})
    nested = await post(
        api,
        "/partners",
        {"name": "D2", "type": "distributor", "parent_partner_id": distributor.json()["id"]},
    )
    assert_problem(nested, 422, "validation_error")
    frozen = await api.patch(
        f"/v1/admin/partners/{reseller.json()['id']}", json={"frozen": True}, headers=OPERATOR
    )
    assert frozen.status_code == 200 and frozen.json()["frozen"] is True
    bad_permission = await post(
        api,
        f"/partners/{reseller.json()['id']}/users",
        {"name": "x", "email": "x@reseller.test", "permissions": ["root"]},
    )
    assert_problem(bad_permission, 422, "validation_error")


async def test_revoked_and_expired_tokens_are_401_at_once(api, factory):
    customer_id, _ = await factory.customer()
    issued = await post(
        api, "/tokens", {"subject_kind": "customer", "subject_id": str(customer_id)}
    )
    token = issued.json()["token"]
    assert (await api.get("/v1/associations", headers=bearer(token))).status_code == 200
    revoked = await api.delete(f"/v1/admin/tokens/{issued.json()['id']}", headers=OPERATOR)
    assert revoked.status_code == 204
    assert_problem(await api.get("/v1/associations", headers=bearer(token)), 401, "unauthorized")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    expired = await post(
        api,
        "/tokens",
        {"subject_kind": "customer", "subject_id": str(customer_id), "expires_at": past},
    )
    assert_problem(
        await api.get("/v1/associations", headers=bearer(expired.json()["token"])),
        401,
        "unauthorized",
    )
    listed = await api.get("/v1/admin/tokens", headers=OPERATOR)
    assert all("token" not in row and "token_hash" not in row for row in listed.json())
    unknown_subject = await post(
        api, "/tokens", {"subject_kind": "customer", "subject_id": str(issued.json()["id"])}
    )
    assert_problem(unknown_subject, 422, "validation_error")


async def test_admin_routes_are_for_operators_only(api, factory):
    world = await factory.world()
    for token in (world.partner_admin, world.customer):
        assert_problem(
            await post(api, "/customers", {"name": "x"}, headers=bearer(token)), 403, "forbidden"
        )
    assert_problem(await post(api, "/customers", {"name": "x"}, headers={}), 401, "unauthorized")
    # An operator token made through the API works like the bootstrap one.
    issued = await post(api, "/tokens", {"subject_kind": "operator", "subject_id": "alice"})
    created = await post(
        api, "/customers", {"name": "By Alice"}, headers=bearer(issued.json()["token"])
    )
    assert created.status_code == 201


async def test_operator_actions_are_on_record(api, factory):
    partner = (await post(api, "/partners", {"name": "Audited", "type": "reseller"})).json()
    frozen = await api.patch(
        f"/v1/admin/partners/{partner['id']}", json={"frozen": True}, headers=OPERATOR
    )
    assert frozen.status_code == 200
    renamed = await api.patch(
        f"/v1/admin/partners/{partner['id']}", json={"name": "Audited 2"}, headers=OPERATOR
    )
    assert renamed.status_code == 200
    log = (await api.get("/v1/admin/audit-log?limit=100", headers=OPERATOR)).json()["items"]
    mine = [e for e in log if e["target_id"] == partner["id"]]
    assert [(e["action"], e["before"], e["after"]) for e in mine] == [
        ("partner.updated", {"name": "Audited"}, {"name": "Audited 2"}),
        ("partner.frozen", {"frozen": False}, {"frozen": True}),
        ("partner.created", None, mine[-1]["after"]),
    ]
    assert all(e["actor"] == "operator:bootstrap" for e in mine)
    assert mine[-1]["after"]["name"] == "Audited"
    assert_problem(
        await api.get("/v1/admin/audit-log", headers=bearer((await factory.world()).partner_admin)),
        403,
        "forbidden",
    )


# --- bad input is 422, never 500 --------------------------------------------------------------


def assert_invalid(response, field: str) -> dict:
    """422 `validation_error` naming `field` in `errors`."""
    body = assert_problem(response, 422, "validation_error")
    assert ["body", field] in [e["loc"] for e in body["errors"]], body
    return body


async def test_null_for_a_partner_field_that_always_has_a_value_is_422(api, factory):
    world = await factory.world()
    for partner_id in (world.partner_id, world.distributor_id):  # with a parent and without
        before = (await api.get(f"/v1/admin/partners/{partner_id}", headers=OPERATOR)).json()
        for field in ("name", "type", "frozen"):
            response = await api.patch(
                f"/v1/admin/partners/{partner_id}", json={field: None}, headers=OPERATOR
            )
            assert_invalid(response, field)
        both = await api.patch(
            f"/v1/admin/partners/{partner_id}", json={"name": "Kept", "frozen": None},
            headers=OPERATOR,
        )  # fmt: skip
        assert_invalid(both, "frozen")
        after = (await api.get(f"/v1/admin/partners/{partner_id}", headers=OPERATOR)).json()
        assert after == before  # nothing changed
    # null for the parent is allowed: it means "no parent".
    orphan = await api.patch(
        f"/v1/admin/partners/{world.partner_id}", json={"parent_partner_id": None}, headers=OPERATOR
    )
    assert orphan.status_code == 200 and orphan.json()["parent_partner_id"] is None
    # The schema says so too: those three are optional, not nullable.
    schema = (await api.get("/openapi.json")).json()["components"]["schemas"]["PartnerPatch"]
    for field in ("name", "type", "frozen"):
        assert "null" not in str(schema["properties"][field]), schema["properties"][field]
    assert "null" in str(schema["properties"]["parent_partner_id"])


async def test_a_token_subject_in_any_form_of_uuid_is_stored_canonical_and_works(api, factory):
    world = await factory.world()
    customer, user = world.customer_id, world.partner_admin_id
    forms = (
        lambda u: f"urn:uuid:{u}",
        lambda u: "{" + str(u) + "}",
        lambda u: str(u).upper(),
        lambda u: u.hex,
        lambda u: f" {u.hex.upper()} ",
    )
    for kind, subject in (("customer", customer), ("partner_user", user)):
        for form in forms:
            issued = await post(api, "/tokens", {"subject_kind": kind, "subject_id": form(subject)})
            assert issued.status_code == 201, issued.text
            assert issued.json()["subject_id"] == str(subject)
            token = bearer(issued.json()["token"])
            listed = await api.get("/v1/associations", headers=token)
            assert listed.status_code == 200, listed.text
            assert [a["id"] for a in listed.json()["items"]] == [str(world.association_id)]
    [stored] = await factory.fetch(
        "SELECT count(DISTINCT subject_id) AS n FROM api_tokens WHERE subject_id ILIKE %s",
        f"%{customer.hex[:8]}%",
    )
    assert stored["n"] == 1  # one canonical form, whatever form the operator sent
    # The subject is still checked, in whatever form it comes.
    for subject_id in ("not-a-uuid", f"{customer}0", f"urn:uuid:{world.distributor_id}"):
        refused = await post(api, "/tokens", {"subject_kind": "customer", "subject_id": subject_id})
        assert_invalid(refused, "subject_id")


async def test_a_token_stored_with_a_non_canonical_subject_id_is_never_a_500(api, factory):
    """Tokens made before subject ids were normalised still work, as their canonical subject;
    one whose subject id is no UUID at all names nobody (401)."""
    from store import tokens

    world = await factory.world()
    made = {}
    for name, subject_id in (
        ("urn", f"urn:uuid:{world.customer_id}"),
        ("braces", "{" + str(world.customer_id).upper() + "}"),
        ("garbage", "not-a-uuid"),
    ):
        made[name] = tokens.new_token()
        async with factory.pool.connection() as conn:  # as the old code stored them
            await conn.execute(
                "INSERT INTO api_tokens (token_hash, subject_kind, subject_id, created_by)"
                " VALUES (%s, 'customer_service', %s, 'operator:tests')",
                (tokens.token_hash(made[name]), subject_id),
            )
    for name in ("urn", "braces"):
        listed = await api.get("/v1/associations", headers=bearer(made[name]))
        assert listed.status_code == 200, listed.text
        assert [a["id"] for a in listed.json()["items"]] == [str(world.association_id)]
        async with factory.pool.connection() as conn:
            who = await tokens.find_subject(conn, made[name])
        assert who is not None and who.subject_id == str(world.customer_id)
    garbage = await api.get("/v1/associations", headers=bearer(made["garbage"]))
    assert_problem(garbage, 401, "unauthorized")


async def test_the_cli_stores_a_token_subject_canonical_too(api, factory, database_url):
    from tests.integration.test_cli import run

    customer_id, _ = await factory.customer()
    created = run(database_url, "tokens", "create", "--subject-kind", "customer",
                  "--subject-id", f"urn:uuid:{str(customer_id).upper()}")  # fmt: skip
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert (await api.get("/v1/associations", headers=bearer(token))).status_code == 200
    token_id = created.stderr.split("id:")[1].split()[0]
    [row] = await factory.fetch("SELECT subject_id FROM api_tokens WHERE id = %s", token_id)
    assert row["subject_id"] == str(customer_id)
    bad = run(database_url, "tokens", "create", "--subject-kind", "customer",
              "--subject-id", "not-a-uuid")  # fmt: skip
    assert bad.returncode == 2 and "not the id of a customer" in bad.stderr
    assert "Traceback" not in bad.stderr


async def test_standing_counts_beyond_what_is_stored_are_422(api, factory):
    world = await factory.world()
    for field in (
        "orders_awaiting_partner_payment",
        "active_reserved_instances",
        "unused_vouchers",
        "independent_accounting_members",
    ):
        for value in (2**31, 2**63, "2147483648"):
            response = await api.put(
                f"/v1/admin/customers/{world.customer_id}/standing",
                json={field: value},
                headers=OPERATOR,
            )
            assert_invalid(response, field)
        most = await api.put(
            f"/v1/admin/customers/{world.customer_id}/standing",
            json={field: 2**31 - 1},
            headers=OPERATOR,
        )
        assert most.status_code == 200 and most.json()[field] == 2**31 - 1


async def test_token_expiry_outside_what_is_stored_is_422(api, factory):
    for expires_at in (
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59",
    ):
        response = await post(
            api,
            "/tokens",
            {"subject_kind": "operator", "subject_id": "far", "expires_at": expires_at},
        )
        assert_invalid(response, "expires_at")
    far = await post(
        api,
        "/tokens",
        {
            "subject_kind": "operator",
            "subject_id": "far",
            "expires_at": "9000-01-01T00:00:00+14:00",
        },
    )
    assert far.status_code == 201, far.text
    assert datetime.fromisoformat(far.json()["expires_at"]) == datetime(
        8999, 12, 31, 10, tzinfo=UTC
    )
