"""Parsing records of the events topic: bad ones are refused with a reason."""

from __future__ import annotations

import json

import pytest

from projections.events import BadEvent, parse_event
from tests.support.events import EventFactory, to_wire


def good_event() -> dict:
    f = EventFactory()
    f.open_account("A1", overdraft=5)
    f.open_account("B1")
    f.transfer("t-1", "A1", "B1", 5)
    credited = [e for e in f.events if e["event_type"] == "Account.Credited"]
    return json.loads(to_wire(credited[-1]))


def test_a_relayed_event_parses():
    event = parse_event(json.dumps(good_event()).encode())
    assert event["event_type"] == "Account.Credited"
    assert event["recorded_at"].tzinfo is not None


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda e: e.pop("position"), "position is missing"),
        (lambda e: e.update(aggregate_version="3"), "aggregate_version must be int"),
        (lambda e: e["payload"].update(amount=5.0), "amount must be int"),
        (lambda e: e["payload"].update(amount=True), "amount must be int"),
        (lambda e: e["payload"].pop("forced"), "payload.forced is missing"),
        (lambda e: e["payload"].update(forced=1), "payload.forced must be bool, got int"),
        (
            lambda e: e["payload"].update(counterparty=None),
            "counterparty must be str, got NoneType",
        ),
        (lambda e: e.update(recorded_at="yesterday"), "not an ISO-8601"),
        (lambda e: e.update(payload=[]), "payload must be an object"),
    ],
)
def test_bad_events_are_refused(mutate, reason):
    event = good_event()
    mutate(event)
    with pytest.raises(BadEvent, match=reason):
        parse_event(json.dumps(event))


@pytest.mark.parametrize("raw", [None, b"\xff\xfe", b"not json", b"[1,2]"])
def test_unreadable_records_are_refused(raw):
    with pytest.raises(BadEvent):
        parse_event(raw)


def test_nullable_fields_take_null_and_nothing_else():
    f = EventFactory()
    f.open_account("A1")
    decided = json.loads(to_wire(f.events[-1]))
    assert decided["event_type"] == "CommandRecord.Decided"
    assert decided["payload"]["code"] is None
    assert parse_event(json.dumps(decided))["payload"]["code"] is None
    decided["payload"]["code"] = 5
    with pytest.raises(BadEvent, match=r"payload\.code must be str or null, got int"):
        parse_event(json.dumps(decided))
