"""The contract documents say what the code does, and are regenerated when it changes.

- docs/schemas/ is exactly what the models generate now (else: run `payments schemas`);
- the message models match what the real ledger publishes (and the domain events:
  tests/unit/test_event_contract.py);
- docs/asyncapi.yaml points at schema files that exist, and uses all of them;
- docs/contract.md's examples are valid messages covering every command type,
  rejection code and event type.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import BaseModel

from payments.cli.schemas import schemas_command
from payments.contract.messages import (
    EVENT_MODELS,
    DeadLetter,
    Outcome,
)
from payments.contract.wire import dead_letter
from payments.domain.commands import COMMAND_TYPES, PAYLOAD_MODELS, Envelope
from payments.domain.errors import REJECTION_CODES, InternalError
from payments.tools.contract_docs import schemas
from payments.tools.contract_docs.examples import run_scenario

DOCS = Path(__file__).resolve().parents[2] / "docs"
ALL_CODES = {*REJECTION_CODES, InternalError.code}


def test_committed_schemas_are_what_the_models_generate() -> None:
    assert schemas.stale(DOCS / "schemas") == [], "run `payments schemas` and commit docs/schemas/"


def test_a_changed_model_makes_the_schemas_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas.write(tmp_path)
    assert schemas.stale(tmp_path) == []

    class VoidPayment(BaseModel):  # one field more than the real one
        payment_id: str
        reason: str

    monkeypatch.setitem(schemas.PAYLOAD_MODELS, "void_payment", VoidPayment)
    assert schemas.stale(tmp_path) == ["commands/void_payment.json"]


def test_missing_and_extra_files_are_stale_and_regenerating_fixes_them(tmp_path: Path) -> None:
    schemas.write(tmp_path)
    (tmp_path / "outcome.json").unlink()
    (tmp_path / "events" / "Account.Renamed.json").write_text("{}")
    (tmp_path / "dead-letter.json").write_text("{}")
    assert schemas.stale(tmp_path) == [
        "dead-letter.json",
        "events/Account.Renamed.json",
        "outcome.json",
    ]

    result = CliRunner().invoke(schemas_command, ["--out", str(tmp_path), "--check"])
    assert result.exit_code == 1 and "stale" in result.output
    result = CliRunner().invoke(schemas_command, ["--out", str(tmp_path)])
    assert result.exit_code == 0
    assert schemas.stale(tmp_path) == []


def test_one_schema_per_command_type_and_event_type() -> None:
    files = set(schemas.generate())
    assert {f"commands/{t}.json" for t in COMMAND_TYPES} <= files
    assert {f"events/{t}.json" for t in EVENT_MODELS} <= files
    assert set(PAYLOAD_MODELS) == set(COMMAND_TYPES)


def test_what_the_ledger_publishes_matches_the_wire_models() -> None:
    published = run_scenario()

    codes = set()
    for step, outcome in published.outcomes:
        Outcome.model_validate_json(json.dumps(outcome))
        assert outcome["code"] == step.expect, step.envelope
        codes.add(outcome["code"])
    assert codes - {None} == ALL_CODES - {InternalError.code}
    assert any(outcome["replayed"] for _, outcome in published.outcomes)

    for event in published.events:
        EVENT_MODELS[event["event_type"]].model_validate_json(json.dumps(event))
    assert {event["event_type"] for event in published.events} == set(EVENT_MODELS)

    letter = dead_letter("not JSON", "payments.commands", 0, 7, b"\xff{")
    DeadLetter.model_validate_json(json.dumps(letter))


# --- docs/asyncapi.yaml --------------------------------------------------------------


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_asyncapi_references_every_schema_file_and_only_existing_ones() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert document["asyncapi"].startswith("3.")
    assert len(document["channels"]) == 4
    files = {r.split("#", 1)[0] for r in refs(document) if not r.startswith("#")}
    for file in files:
        assert (DOCS / file).is_file(), file
    used = {Path(f).relative_to("schemas").as_posix() for f in files}
    assert used >= set(schemas.generate()) - {"event.json"}
    for ref in (r for r in refs(document) if r.startswith("#/")):
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part]  # KeyError: a dangling local reference


# --- docs/contract.md ------------------------------------------------------------------


def json_examples(markdown: str) -> list[dict[str, Any]]:
    """Every JSON object in ```json blocks: a block is one document or JSON lines."""
    documents = []
    for block in re.findall(r"```json\n(.*?)```", markdown, flags=re.DOTALL):
        try:
            documents.append(json.loads(block))
        except json.JSONDecodeError:
            documents += [json.loads(line) for line in block.splitlines() if line.strip()]
    return documents


def test_contract_examples_are_valid_and_cover_the_whole_contract() -> None:
    examples = json_examples((DOCS / "contract.md").read_text())
    codes, event_types, command_types = set(), set(), set()
    for example in examples:
        if "event_type" in example:
            EVENT_MODELS[example["event_type"]].model_validate_json(json.dumps(example))
            event_types.add(example["event_type"])
        elif "processed_at" in example:
            Outcome.model_validate_json(json.dumps(example))
            codes.add(example["code"])
        elif "source_offset" in example:
            DeadLetter.model_validate_json(json.dumps(example))
        elif "payload" in example and "command_id" in example:
            Envelope.model_validate(example)
            command_types.add(example["type"])
    assert codes >= ALL_CODES
    assert event_types >= set(EVENT_MODELS)
    assert command_types >= set(COMMAND_TYPES)
