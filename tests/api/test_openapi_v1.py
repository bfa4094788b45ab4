"""Within v1 the API only adds (docs/API.md, "Versioning"): checked against a snapshot of the v1
surface taken from the OpenAPI document — every operation with its id, parameters, body fields
and problem codes; every schema's fields; every webhook event type.

After an intended, compatible change, `make openapi-snapshot` takes a new snapshot; a change this
test refuses is a breaking one, which belongs in a /v2.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app

SNAPSHOT = Path(__file__).resolve().parent.parent / "openapi" / "v1.json"
RECORDING = os.environ.get("ASSOCFLOW_RECORD_OPENAPI") == "1"


def surface(document: dict[str, Any]) -> dict[str, Any]:
    """What a v1 client may rely on, from an OpenAPI document."""
    operations = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            operations[f"{method.upper()} {path}"] = {
                "operation_id": op["operationId"],
                "parameters": {
                    f"{p['in']}:{p['name']}": bool(p.get("required"))
                    for p in op.get("parameters", [])
                },
                "body": body.get("schema", {}).get("$ref"),
                "problem_codes": sorted(
                    {
                        code
                        for response in op.get("responses", {}).values()
                        for code in response.get("x-problem-codes", [])
                    }
                ),
            }
    schemas = {
        name: {
            "properties": sorted(schema.get("properties", {})),
            "required": sorted(schema.get("required", [])),
            "enum": sorted(map(str, schema.get("enum", []))),
        }
        for name, schema in document["components"]["schemas"].items()
    }
    return {
        "operations": operations,
        "schemas": schemas,
        "webhooks": sorted(document.get("webhooks", {})),
    }


def breaking_changes(recorded: dict[str, Any], today: dict[str, Any]) -> list[str]:
    """What a client written against `recorded` could find broken in `today`."""
    found = []
    for key, old in recorded["operations"].items():
        new = today["operations"].get(key)
        if new is None:
            found.append(f"{key} is gone")
            continue
        if new["operation_id"] != old["operation_id"]:
            found.append(f"{key}: operationId {old['operation_id']} became {new['operation_id']}")
        for param, required in new["parameters"].items():
            if param not in old["parameters"] and required:
                found.append(f"{key}: new parameter {param} is required")
            elif param in old["parameters"] and required and not old["parameters"][param]:
                found.append(f"{key}: parameter {param} became required")
        found += [
            f"{key}: parameter {p} is gone" for p in old["parameters"] if p not in new["parameters"]
        ]
        found += [f"{key}: problem code {c} is gone" for c in old["problem_codes"] if c not in new["problem_codes"]]  # fmt: skip
        if old["body"] != new["body"]:
            found.append(f"{key}: the body's schema {old['body']} became {new['body']}")
    for name, old in recorded["schemas"].items():
        new = today["schemas"].get(name)
        if new is None:
            found.append(f"schema {name} is gone")
            continue
        found += [f"{name}.{f} is gone" for f in old["properties"] if f not in new["properties"]]
        found += [
            f"{name}.{f} became required"
            for f in new["required"]
            if f not in old["required"] and f in old["properties"]
        ]
        found += [f"{name}.{f} is new and required" for f in new["required"] if f not in old["properties"]]  # fmt: skip
        found += [f"{name}: value {v} is gone" for v in old["enum"] if v not in new["enum"]]
    found += [f"webhook event {e} is gone" for e in recorded["webhooks"] if e not in today["webhooks"]]  # fmt: skip
    return found


def test_v1_only_grows():
    recorded = json.loads(SNAPSHOT.read_text())
    assert breaking_changes(recorded, surface(create_app().openapi())) == []


def test_the_check_finds_each_kind_of_breaking_change():
    today = surface(create_app().openapi())
    broken = copy.deepcopy(today)
    del broken["operations"]["POST /v1/disassociations/{request_id}/agree"]
    broken["operations"]["GET /v1/association-records"]["parameters"].pop("query:kind")
    broken["operations"]["POST /v1/disassociations"]["problem_codes"].remove("check_failed")
    broken["schemas"]["DisassociationRequest"]["properties"].remove("respond_by")
    broken["schemas"]["SubmitBody"]["required"].append("verification_code")
    broken["webhooks"].remove("disassociation.agreed")
    found = breaking_changes(today, broken)
    assert found == [
        "POST /v1/disassociations: problem code check_failed is gone",
        "POST /v1/disassociations/{request_id}/agree is gone",
        "GET /v1/association-records: parameter query:kind is gone",
        "DisassociationRequest.respond_by is gone",
        "SubmitBody.verification_code became required",
        "webhook event disassociation.agreed is gone",
    ]
    grown = copy.deepcopy(today)
    grown["operations"]["GET /v1/association-records"]["parameters"]["query:label"] = False
    grown["schemas"]["DisassociationRequest"]["properties"].append("summary")
    assert breaking_changes(today, grown) == []  # additions are what v1 allows


@pytest.mark.skipif(not RECORDING, reason="set ASSOCFLOW_RECORD_OPENAPI=1 (make openapi-snapshot)")
def test_record_the_v1_snapshot():
    SNAPSHOT.parent.mkdir(exist_ok=True)
    snapshot = surface(create_app().openapi())
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
