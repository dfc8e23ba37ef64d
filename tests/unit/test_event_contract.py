"""One declaration per event type: the domain, the messages and the read side agree.

`payments.contract.messages.EVENT_PAYLOADS` declares each event type's payload. The
domain events (every aggregate's nested event classes, named as on the wire, e.g.
`Account.Debited`) must carry exactly those fields, with the same JSON types, and
the read side's checks (`projections.events.PAYLOAD_FIELDS`) are derived from it.
A field added on one side only fails here, naming what to add on the other.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import typing
from datetime import datetime
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from pydantic import BaseModel, Field

import payments.domain
from payments.contract.messages import EVENT_PAYLOADS, EventMessage
from projections.events import ENVELOPE_FIELDS, PAYLOAD_FIELDS, WireType, wire_type

# The library's fields, and the two every message carries in its envelope.
NOT_PAYLOAD = {"originator_id", "originator_version", "originator_topic", "timestamp"}
NOT_PAYLOAD |= {"command_id", "actor"}


def aggregates() -> list[type[Aggregate]]:
    found = []
    for info in pkgutil.iter_modules(payments.domain.__path__):
        module = importlib.import_module(f"payments.domain.{info.name}")
        found += [
            member
            for member in vars(module).values()
            if isinstance(member, type)
            and issubclass(member, Aggregate)
            and member is not Aggregate
            and member.__module__ == module.__name__
        ]
    return found


def payload_types(event_class: type) -> dict[str, WireType]:
    hints = typing.get_type_hints(event_class)
    return {
        f.name: wire_type(hints[f.name])
        for f in dataclasses.fields(event_class)
        if f.name not in NOT_PAYLOAD
    }


def domain_events() -> dict[str, type]:
    """Wire name -> event class, for every event an aggregate can record."""
    events = {}
    for aggregate in aggregates():
        for name, member in vars(aggregate).items():
            if not (isinstance(member, type) and issubclass(member, Aggregate.Event)):
                continue
            if name == "Event" or (name == "Created" and not payload_types(member)):
                continue  # the base class; the library's `Created` of aggregates made otherwise
            events[member.__qualname__] = member
    return events


DOMAIN_EVENTS = domain_events()


def model_types(model: type[BaseModel]) -> dict[str, WireType]:
    return {name: wire_type(field.annotation) for name, field in model.model_fields.items()}


def drift(event_type: str, event_class: type, model: type[BaseModel]) -> list[str]:
    """What differs between a domain event and its payload model, in words."""
    domain, wire = payload_types(event_class), model_types(model)
    where = f"{event_type} ({model.__name__} in payments/contract/messages.py)"
    return [
        *(f"{where}: add {n}: {t}" for n, t in domain.items() if n not in wire),
        *(f"{where}: {n} is not a field of the domain event" for n in wire if n not in domain),
        *(
            f"{where}: {n} is {wire[n]} on the wire but {t} in the domain"
            for n, t in domain.items()
            if n in wire and wire[n] != t
        ),
    ]


def test_the_walk_finds_the_aggregates_and_their_events() -> None:
    names = {a.__name__ for a in aggregates()}
    assert {"Account", "Payment", "Transfer", "SettlementBatch", "CommandRecord"} <= names
    assert {"Account.Opened", "Account.Debited", "CommandRecord.Decided"} <= set(DOMAIN_EVENTS)


def test_every_domain_event_has_a_payload_model_and_every_model_a_domain_event() -> None:
    undeclared = sorted(set(DOMAIN_EVENTS) - set(EVENT_PAYLOADS))
    assert undeclared == [], "declare these in payments/contract/messages.py EVENT_PAYLOADS"
    orphans = sorted(set(EVENT_PAYLOADS) - set(DOMAIN_EVENTS))
    assert orphans == [], "no domain event has these names"


@pytest.mark.parametrize("event_type", sorted(DOMAIN_EVENTS))
def test_a_domain_event_has_exactly_its_models_fields_and_types(event_type: str) -> None:
    model = EVENT_PAYLOADS.get(event_type)
    assert model is not None, f"declare {event_type} in payments/contract/messages.py"
    assert drift(event_type, DOMAIN_EVENTS[event_type], model) == []


def test_drift_names_the_field_to_add_and_the_type_that_differs() -> None:
    account = next(a for a in aggregates() if a.__name__ == "Account")

    class Closed(account.Closed):  # type: ignore[name-defined,misc]
        reason: str

    class Payload(BaseModel):  # account_id is a str in the domain
        account_id: int
        label: str = Field(default="")

    assert drift("Account.Closed", Closed, Payload) == [
        "Account.Closed (Payload in payments/contract/messages.py): add reason: str",
        "Account.Closed (Payload in payments/contract/messages.py): "
        "label is not a field of the domain event",
        "Account.Closed (Payload in payments/contract/messages.py): "
        "account_id is int on the wire but str in the domain",
    ]


@pytest.mark.parametrize("event_type", sorted(EVENT_PAYLOADS))
def test_the_read_side_checks_every_field_of_every_event_type(event_type: str) -> None:
    checks = {c.name: c.type for c in PAYLOAD_FIELDS[event_type]}
    assert checks == model_types(EVENT_PAYLOADS[event_type])
    required = {c.name for c in PAYLOAD_FIELDS[event_type] if c.required}
    assert required == {
        n for n, f in EVENT_PAYLOADS[event_type].model_fields.items() if f.is_required()
    }


def test_the_read_sides_envelope_checks_agree_with_the_event_message() -> None:
    fields = EventMessage.model_fields
    for name, kind in ENVELOPE_FIELDS.items():
        assert wire_type(fields[name].annotation) == WireType(kind), name


@pytest.mark.parametrize(
    "annotation, expected",
    [
        (int, WireType("int")),
        (bool, WireType("bool")),
        (str | None, WireType("str", nullable=True)),
        (typing.Literal["a", "b"], WireType("str")),
        (typing.Annotated[int, Field(ge=0)] | None, WireType("int", nullable=True)),
    ],
)
def test_wire_types_of_annotations(annotation: Any, expected: WireType) -> None:
    assert wire_type(annotation) == expected


@pytest.mark.parametrize(
    "annotation", [float, datetime, dict[str, int], int | str, typing.Literal[1, 2]]
)
def test_a_field_the_read_side_cannot_check_cheaply_is_refused(annotation: Any) -> None:
    with pytest.raises(TypeError, match="no JSON type check"):
        wire_type(annotation)
