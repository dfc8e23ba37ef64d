"""Relayed events as the read side sees them: parsed, checked dicts.

The wire format is docs/architecture.md "Wire formats → Event". A record that is not
such an event (bad JSON, a missing field, a float amount) raises `BadEvent`: the
consumer quarantines it and moves past it (`projections.quarantine`), so one poison
record never stalls a projection and is never passed over silently.
`recorded_at` becomes an aware `datetime`; everything else keeps its JSON type.

The payload checks are derived, once at import, from the one declaration of each
event type (`payments.contract.messages.EVENT_PAYLOADS`): per field, a cheap JSON
type check, so checking an event costs a few dict and set lookups per field, never
a pydantic validation.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel

from payments.contract import fast_json
from payments.contract.messages import EVENT_PAYLOADS

Event = dict[str, Any]

_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: type(v) is int,  # never bool (a subclass) nor float
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: type(v) is bool,
}


class WireType(NamedTuple):
    """A field's JSON type as the read side checks it."""

    kind: str  # a key of _CHECKS
    nullable: bool = False

    def __str__(self) -> str:
        return f"{self.kind} or null" if self.nullable else self.kind


def wire_type(annotation: Any) -> WireType:
    """The JSON type of a Python annotation (a message model's or a domain event's).

    Anything not plain on the wire raises TypeError: a new kind of field must get a
    check here before the read side can trust it.
    """
    origin = get_origin(annotation)
    if origin is Annotated:  # constraints are the write side's; the JSON type is inside
        return wire_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        present = [a for a in get_args(annotation) if a is not type(None)]
        if len(present) == 1 and len(present) < len(get_args(annotation)):
            return WireType(wire_type(present[0]).kind, nullable=True)
    elif origin is Literal and all(type(a) is str for a in get_args(annotation)):
        return WireType("str")
    elif annotation is bool:
        return WireType("bool")
    elif annotation is int:
        return WireType("int")
    elif annotation in (str, UUID):  # a UUID travels as its text
        return WireType("str")
    raise TypeError(f"no JSON type check for {annotation!r}")


class FieldCheck(NamedTuple):
    name: str
    # The exact Python types json.loads gives such a value (so never bool for int).
    allowed: frozenset[type]
    required: bool  # False: a field with a default (older stored events lack it)
    type: WireType


_JSON_TYPES: dict[str, type] = {"int": int, "str": str, "bool": bool}
_MISSING = object()


def payload_checks(model: type[BaseModel]) -> tuple[FieldCheck, ...]:
    checks = []
    for name, field in model.model_fields.items():
        wire = wire_type(field.annotation)
        allowed = {_JSON_TYPES[wire.kind]} | ({type(None)} if wire.nullable else set())
        checks.append(FieldCheck(name, frozenset(allowed), field.is_required(), wire))
    return tuple(checks)


PAYLOAD_FIELDS: dict[str, tuple[FieldCheck, ...]] = {
    event_type: payload_checks(model) for event_type, model in EVENT_PAYLOADS.items()
}

ENVELOPE_FIELDS: dict[str, str] = {
    "position": "int",
    "event_id": "str",
    "event_type": "str",
    "aggregate_type": "str",
    "aggregate_id": "str",
    "aggregate_version": "int",
}


class BadEvent(ValueError):
    """A record on the events topic that the read side cannot use."""


def parse_event(raw: bytes | str | None) -> Event:
    """Decode one Kafka record value into a checked event dict (or raise BadEvent)."""
    if raw is None:
        raise BadEvent("empty record (tombstone)")
    try:
        event = fast_json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise BadEvent("not a JSON object")
    return check_event(event)


def check_event(event: Event) -> Event:
    """Check fields and types; turn `recorded_at` into a datetime. Returns the dict."""
    _check_envelope(event)
    for optional in ("command_id", "actor"):
        if event.get(optional) is not None and not isinstance(event[optional], str):
            raise BadEvent(f"event.{optional} must be a string or null")
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise BadEvent("event.payload must be an object")
    _check_payload(payload, PAYLOAD_FIELDS.get(event["event_type"], ()))
    recorded_at = event.get("recorded_at")
    if isinstance(recorded_at, str):
        event["recorded_at"] = parse_time(recorded_at)
    elif isinstance(recorded_at, datetime) and recorded_at.tzinfo is not None:
        event["recorded_at"] = recorded_at.astimezone(UTC)
    else:
        raise BadEvent("event.recorded_at must be an ISO-8601 time with a zone")
    return event


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadEvent(f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise BadEvent(f"time without a zone: {text!r}")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """The wire's time format: UTC, microseconds, `Z` (also the audit hash's form)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_envelope(event: Event) -> None:
    for name, kind in ENVELOPE_FIELDS.items():
        if name not in event:
            raise BadEvent(f"event.{name} is missing")
        if not _CHECKS[kind](event[name]):
            raise BadEvent(f"event.{name} must be {kind}, got {type(event[name]).__name__}")


def _check_payload(payload: dict[str, Any], checks: tuple[FieldCheck, ...]) -> None:
    for name, allowed, required, wire in checks:
        value = payload.get(name, _MISSING)
        if value is _MISSING:
            if required:
                raise BadEvent(f"payload.{name} is missing")
        elif type(value) not in allowed:  # one set lookup: no call per field
            raise BadEvent(f"payload.{name} must be {wire}, got {type(value).__name__}")
