"""The contract's JSON Schemas, generated from the pydantic models (never hand-edited).

`generate()` maps each file under docs/schemas/ to its text: the command envelope and
one schema per command payload (from `payments.commands`), the outcome, the dead
letter, and one schema per event type plus their union (from `payments.contract.messages`).
`payments schemas` writes them; `payments schemas --check` and the unit test
`test_schemas_fresh` fail when the committed files are not what the models say now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, RootModel

from payments.contract.messages import EVENT_MODELS, DeadLetter, Outcome
from payments.domain.commands import PAYLOAD_MODELS, TEXT_RULES, Envelope

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "docs" / "schemas"


def _event_union() -> type[BaseModel]:
    union = Union[tuple(EVENT_MODELS.values())]  # noqa: UP007 (built from a tuple)
    model = RootModel[Annotated[union, Field(discriminator="event_type")]]  # type: ignore[valid-type]
    model.__doc__ = "Any message on `payments.events`, told apart by `event_type`."
    return model


def schema_of(model: type[BaseModel], title: str, description: str | None = None) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    head: dict[str, Any] = {"$schema": SCHEMA_DIALECT, "title": title}
    if description or schema.get("description"):
        head["description"] = description or schema["description"]
    return head | {k: v for k, v in schema.items() if k not in ("title", "description")}


def generate() -> dict[str, str]:
    """Relative path under docs/schemas/ -> file text."""
    schemas: dict[str, dict[str, Any]] = {
        "command-envelope.json": schema_of(
            Envelope,
            "Command envelope",
            "A command on `payments.commands`. `type` selects the payload's schema: "
            "commands/<type>.json. An unknown type is rejected with `unknown_command_type`. "
            + TEXT_RULES,
        ),
        "outcome.json": schema_of(Outcome, "Outcome"),
        "dead-letter.json": schema_of(DeadLetter, "Dead letter"),
        "event.json": schema_of(_event_union(), "Event"),
    }
    for command_type, payload in PAYLOAD_MODELS.items():
        schemas[f"commands/{command_type}.json"] = schema_of(
            payload, f"{command_type} payload", f"The `payload` of a `{command_type}` command."
        )
    for event_type, event in EVENT_MODELS.items():
        schemas[f"events/{event_type}.json"] = schema_of(event, event_type)
    return {path: json.dumps(schema, indent=2) + "\n" for path, schema in schemas.items()}


def write(directory: Path = DEFAULT_DIR) -> list[str]:
    """Write every schema, remove schema files no model makes; return what changed."""
    changed = stale(directory)
    wanted = generate()
    for path, text in wanted.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    for path in _present(directory) - set(wanted):
        (directory / path).unlink()
    return changed


def stale(directory: Path = DEFAULT_DIR) -> list[str]:
    """Files that differ from what the models generate now, are missing, or are extra."""
    wanted = generate()
    differ = [
        path
        for path, text in wanted.items()
        if not (directory / path).exists() or (directory / path).read_text(encoding="utf-8") != text
    ]
    return sorted(differ + list(_present(directory) - set(wanted)))


def _present(directory: Path) -> set[str]:
    if not directory.exists():
        return set()
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*.json")}
