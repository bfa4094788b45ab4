"""The models recorded in workflow histories (contract/__init__.py) are their own: they change
only compatibly, and what the HTTP API shows can change without touching them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, create_model

import api.schemas
import contract
from domain.types import Decision
from server.app import create_app
from tests.workflows.test_replay import RECORDING
from tests.workflows.test_replay import test_history_replays_with_todays_code as replay

SNAPSHOT = Path(__file__).resolve().parent.parent / "histories" / "contract.json"
RECORDED_MODELS: list[type[BaseModel]] = [
    contract.SubmitCommand,
    contract.Admission,
    contract.Outcome,
    contract.RequestSnapshot,
    contract.RequestState,
    contract.OperatorDecision,
    contract.AcceptInput,
    contract.SettleInput,
    contract.ReminderInput,
    contract.ReconcileInput,
    contract.ReconcileResult,
    Decision,
]


def schemas() -> dict[str, Any]:
    return {model.__name__: model.model_json_schema() for model in RECORDED_MODELS}


def _definitions(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The model and every model it contains, by name."""
    found = {schema["title"]: schema}
    found.update(schema.get("$defs", {}))
    return found


def incompatibilities(recorded: dict[str, Any], today: dict[str, Any]) -> list[str]:
    """What would stop a history recorded with `recorded` from reading with `today`: a model
    gone, a field gone or retyped, a new field without a default."""
    problems = []
    for name, old_schema in recorded.items():
        if name not in today:
            problems.append(f"{name} is gone")
            continue
        old_defs, new_defs = _definitions(old_schema), _definitions(today[name])
        for model, old in old_defs.items():
            new = new_defs.get(model)
            if new is None:
                problems.append(f"{name}: {model} is gone")
                continue
            for field, spec in old.get("properties", {}).items():
                if field not in new.get("properties", {}):
                    problems.append(f"{model}.{field} is gone")
                elif not _reads_the_same(spec, new["properties"][field]):
                    problems.append(
                        f"{model}.{field} changed: {spec} -> {new['properties'][field]}"
                    )
            added = set(new.get("required", [])) - set(old.get("required", []))
            problems += [f"{model}.{field} is new and required" for field in sorted(added)]
    return problems


def _reads_the_same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether every value `old` accepted is accepted by `new`: the same spec, one with a default
    now, or an enum with values added (and none taken away)."""
    if new == old or "default" in new:
        return True
    if "enum" in old and "enum" in new:
        rest = {k: v for k, v in new.items() if k != "enum"}
        return set(old["enum"]) <= set(new["enum"]) and rest == {
            k: v for k, v in old.items() if k != "enum"
        }
    return False


def test_an_enum_may_grow_but_not_shrink():
    old = {"enum": ["partner_user", "customer"], "type": "string"}
    grown = {"enum": ["partner_user", "customer", "customer_user"], "type": "string"}
    assert _reads_the_same(old, grown)
    assert not _reads_the_same(grown, old)
    assert not _reads_the_same(old, {"enum": ["partner_user", "customer"], "type": "integer"})


def test_the_contract_changes_only_compatibly():
    """A history recorded with the contract as snapshotted still reads with today's. After a
    compatible change, `make histories` takes a new snapshot."""
    recorded = json.loads(SNAPSHOT.read_text())
    assert incompatibilities(recorded, schemas()) == []


def test_the_compatibility_check_finds_a_breaking_change():
    recorded = schemas()
    renamed = json.loads(json.dumps(recorded))
    props = renamed["SettleInput"]["properties"]
    props["decided_on"] = props.pop("decided_at")
    assert "SettleInput.decided_at is gone" in incompatibilities(recorded, renamed)


async def test_a_field_added_to_the_http_response_leaves_histories_replaying(monkeypatch):
    before = schemas()
    wider = create_model(
        "DisassociationRequest",
        __base__=api.schemas.DisassociationRequest,
        summary=(str | None, None),
    )
    monkeypatch.setattr(api.schemas, "DisassociationRequest", wider)
    assert "summary" in wider.model_json_schema()["properties"]
    assert create_app() is not None
    assert schemas() == before  # nothing a history records moved
    await replay("requests", "agree")


@pytest.mark.skipif(not RECORDING, reason="set ASSOCFLOW_RECORD_HISTORIES=1 (make histories)")
def test_record_the_contract_snapshot():
    SNAPSHOT.write_text(json.dumps(schemas(), indent=1, sort_keys=True) + "\n")
