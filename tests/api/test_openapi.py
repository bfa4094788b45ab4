"""The OpenAPI document is one a client can build on: every operation named for its use case,
described, tagged; every body described with an example that its own schema accepts; per route
only the errors it can answer, each with its problem codes and an example of each.

That the errors listed are the ones the routes answer is checked at the end of every session
(tests/documented_errors.py); this module checks the document itself.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest

from api.openapi import OPERATIONS, TAGS
from api.problems import status_of
from domain.types import EVENT_TYPES
from server.app import create_app
from tests.documented_errors import undocumented
from tests.factories import bearer

SCHEMA = create_app().openapi()
OPERATIONS_IN_SCHEMA = [
    (method.upper(), path, spec)
    for path, ops in SCHEMA["paths"].items()
    for method, spec in ops.items()
]
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS_IN_SCHEMA]


def valid(schema: dict[str, Any], value: Any) -> list[str]:
    """What is wrong with `value` against `schema` (refs resolved in the document)."""
    root = {**schema, "components": SCHEMA["components"]}
    return [error.message for error in jsonschema_rs.Draft202012Validator(root).iter_errors(value)]


def media_examples(media: dict[str, Any]) -> list[Any]:
    found = [media["example"]] if "example" in media else []
    return found + [example["value"] for example in media.get("examples", {}).values()]


@pytest.mark.parametrize(("method", "path", "spec"), OPERATIONS_IN_SCHEMA, ids=IDS)
def test_each_operation_is_named_described_and_tagged(method, path, spec):
    assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]*)+", spec["operationId"]), spec["operationId"]
    assert spec["summary"] and spec["description"]
    assert spec["tags"] and set(spec["tags"]) <= {tag["name"] for tag in TAGS}
    for parameter in spec.get("parameters", ()):
        assert parameter.get("description"), parameter["name"]


def test_operation_ids_are_the_use_cases():
    ids = {(method, path): spec["operationId"] for method, path, spec in OPERATIONS_IN_SCHEMA}
    assert ids[("POST", "/v1/disassociations")] == "submitDisassociation"
    assert ids[("POST", "/v1/disassociations/{request_id}/agree")] == "agreeDisassociation"
    assert ids[("GET", "/v1/association-records")] == "listAssociationRecords"
    assert len(set(ids.values())) == len(ids) == len(OPERATIONS)


def test_every_tag_is_described():
    assert SCHEMA["tags"] == TAGS
    assert all(tag["description"] for tag in TAGS)


@pytest.mark.parametrize(("method", "path", "spec"), OPERATIONS_IN_SCHEMA, ids=IDS)
def test_every_body_is_described_with_an_example_its_schema_accepts(method, path, spec):
    bodies = []
    if "requestBody" in spec:
        bodies.append(("request", spec["requestBody"]))
    bodies += [(f"response {status}", response) for status, response in spec["responses"].items()]
    for where, body in bodies:
        assert body.get("description"), where
        for media_type, media in body.get("content", {}).items():
            examples = media_examples(media)
            assert examples, f"{where} {media_type} has no example"
            if media_type.endswith("json"):
                for example in examples:
                    assert valid(media["schema"], example) == [], (where, example)


@pytest.mark.parametrize(("method", "path", "spec"), OPERATIONS_IN_SCHEMA, ids=IDS)
def test_each_error_response_lists_its_codes_with_an_example_of_each(method, path, spec):
    errors = {status: r for status, r in spec["responses"].items() if int(status) >= 400}
    assert set(errors) == {str(status_of(code)) for code in OPERATIONS[spec["operationId"]].errors}
    for status, response in errors.items():
        codes = response["x-problem-codes"]
        assert codes and all(f"`{code}`" in response["description"] for code in codes)
        examples = response["content"]["application/problem+json"]["examples"]
        assert sorted(examples) == sorted(codes)
        for code, example in examples.items():
            assert example["value"]["code"] == code
            assert example["value"]["status"] == int(status)


def test_reads_do_not_document_the_errors_of_writes():
    """A GET takes no body and decides nothing: no 413, no 409, no Idempotency-Key codes. Its
    503 is PostgreSQL being unavailable, which any call may meet, and nothing else."""
    for method, path, spec in OPERATIONS_IN_SCHEMA:
        if method == "GET" and path.startswith("/v1/"):
            assert not {"409", "413", "429"} & set(spec["responses"]), path
            assert spec["responses"]["503"]["x-problem-codes"] == ["temporarily_unavailable"]


def test_every_call_with_a_token_documents_the_database_being_unavailable():
    """Every route that looks its caller's token up in PostgreSQL answers 503
    `temporarily_unavailable` with Retry-After while PostgreSQL is down (api/outages.py)."""
    for _, path, spec in OPERATIONS_IN_SCHEMA:
        if "401" in spec["responses"]:
            unavailable = spec["responses"]["503"]
            assert "temporarily_unavailable" in unavailable["x-problem-codes"], path
            assert "Retry-After" in unavailable["headers"], path


def test_rate_limited_routes_announce_their_limits():
    limited = {
        spec["operationId"]
        for _, _, spec in OPERATIONS_IN_SCHEMA
        if "RateLimit-Limit" in next(iter(spec["responses"].values())).get("headers", {})
    }
    assert limited == {
        "submitDisassociation", "agreeDisassociation", "rejectDisassociation",
        "submitTypeChange", "agreeTypeChange", "rejectTypeChange", "submitPartnerChange",
        "agreePartnerChange", "rejectPartnerChange", "acceptPartnerChange",
        "declinePartnerChange", "updateAccountSettings",
    }  # fmt: skip
    for _method, path, spec in OPERATIONS_IN_SCHEMA:
        if "429" in spec["responses"]:
            assert "Retry-After" in spec["responses"]["429"]["headers"], path


def test_the_check_of_documented_errors_fails_on_an_undocumented_one():
    """The session's check (tests/documented_errors.py) is not one that cannot fail."""
    seen = {
        ("GET", "/v1/associations", 409, "not_pending"): "t1",
        ("GET", "/v1/associations/{association_id}", 404, "request_pending"): "t2",
        ("GET", "/v1/associations/{association_id}", 404, "not_found"): "t3",
        ("GET", "/nowhere", 404, "not_found"): "t4",
    }
    missing = undocumented(SCHEMA, seen.items())
    assert len(missing) == 2
    assert "status 409 (not_pending)" in missing[0] and "t1" in missing[0]
    assert "404 request_pending" in missing[1] and "t2" in missing[1]


@pytest.mark.devserver
async def test_a_route_that_went_away_names_its_replacement(api, factory):
    world = await factory.world()
    gone = await api.post(
        "/v1/verification-codes", json={"purpose": "x"}, headers=bearer(world.partner_admin)
    )
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "application/problem+json"
    problem = gone.json()
    assert problem["code"] == "gone"
    assert problem["replacement"] in SCHEMA["paths"]
    assert "post" in SCHEMA["paths"][problem["replacement"]]
    assert SCHEMA["paths"]["/v1/verification-codes"]["post"]["deprecated"] is True


def test_every_event_is_in_the_webhooks_section_with_its_payload_and_headers():
    # `verification.code` is no longer sent: codes come from each person's authenticator.
    assert set(SCHEMA["webhooks"]) == set(EVENT_TYPES) - {"verification.code"}
    for event_type, methods in SCHEMA["webhooks"].items():
        spec = methods["post"]
        assert spec["description"] and spec["operationId"].startswith("on")
        headers = {p["name"]: p for p in spec["parameters"] if p["in"] == "header"}
        assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert all(h["required"] and h["description"] for h in headers.values())
        media = spec["requestBody"]["content"]["application/json"]
        assert media["example"]["type"] == event_type
        assert valid(media["schema"], media["example"]) == []
        assert valid(media["schema"], {**media["example"], "type": "something.else"}) != []
        assert {"2XX", "410", "default"} <= set(spec["responses"])
