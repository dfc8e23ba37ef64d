"""Relayed events as the read side sees them: parsed, checked dicts.

The wire format is docs/architecture.md "Wire formats → Event". A record that is not
such an event (bad JSON, a missing field, a float amount) raises `BadEvent`: the
consumer logs it and moves past it, so one poison record never stalls a projection.
`recorded_at` becomes an aware `datetime`; everything else keeps its JSON type.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]

# Payload fields the read side relies on, per event type (the catalogue's fields).
# Types: "int" is a JSON integer (never bool/float), "str" a string, "bool" a bool.
PAYLOAD_FIELDS: dict[str, dict[str, str]] = {
    "Account.Opened": {
        "account_id": "str",
        "currency": "str",
        "kind": "str",
        "overdraft_limit": "int",
    },
    "Account.Closed": {"account_id": "str"},
    "Account.Debited": {
        "account_id": "str",
        "posting_id": "str",
        "amount": "int",
        "currency": "str",
        "reason": "str",
        "reference": "str",
    },
    "Account.HoldPlaced": {"account_id": "str", "payment_id": "str", "amount": "int"},
    "Account.HoldCaptured": {
        "account_id": "str",
        "payment_id": "str",
        "amount": "int",
        "posting_id": "str",
    },
    "Account.Settled": {"account_id": "str", "batch_id": "str"},
    "Payment.Authorized": {
        "payment_id": "str",
        "payer_account": "str",
        "merchant_account": "str",
        "amount": "int",
        "currency": "str",
    },
    "Payment.Captured": {"payment_id": "str", "amount": "int"},
    "Transfer.Recorded": {"transfer_id": "str", "amount": "int", "currency": "str"},
    "SettlementBatch.Created": {
        "batch_id": "str",
        "merchant_account": "str",
        "payout_account": "str",
        "fees_account": "str",
        "currency": "str",
        "fee_bps": "int",
        "gross": "int",
        "refunds": "int",
        "chargebacks": "int",
        "fees": "int",
        "net": "int",
        "item_count": "int",
    },
}
PAYLOAD_FIELDS["Account.Credited"] = PAYLOAD_FIELDS["Account.Debited"]
PAYLOAD_FIELDS["Account.HoldReleased"] = PAYLOAD_FIELDS["Account.HoldPlaced"]
for _name in ("Voided", "Refunded", "ChargedBack"):
    PAYLOAD_FIELDS[f"Payment.{_name}"] = PAYLOAD_FIELDS["Payment.Captured"]

ENVELOPE_FIELDS: dict[str, str] = {
    "position": "int",
    "event_id": "str",
    "event_type": "str",
    "aggregate_type": "str",
    "aggregate_id": "str",
    "aggregate_version": "int",
}

_CHECKS = {
    "int": lambda v: type(v) is int,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: type(v) is bool,
}


class BadEvent(ValueError):
    """A record on the events topic that the read side cannot use."""


def parse_event(raw: bytes | str | None) -> Event:
    """Decode one Kafka record value into a checked event dict (or raise BadEvent)."""
    if raw is None:
        raise BadEvent("empty record (tombstone)")
    try:
        event = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise BadEvent("not a JSON object")
    return check_event(event)


def check_event(event: Event) -> Event:
    """Check fields and types; turn `recorded_at` into a datetime. Returns the dict."""
    _check_fields(event, ENVELOPE_FIELDS, "event")
    for optional in ("command_id", "actor"):
        if event.get(optional) is not None and not isinstance(event[optional], str):
            raise BadEvent(f"event.{optional} must be a string or null")
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise BadEvent("event.payload must be an object")
    _check_fields(payload, PAYLOAD_FIELDS.get(event["event_type"], {}), "payload")
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


def _check_fields(obj: dict[str, Any], fields: dict[str, str], where: str) -> None:
    for name, kind in fields.items():
        if name not in obj:
            raise BadEvent(f"{where}.{name} is missing")
        if not _CHECKS[kind](obj[name]):
            raise BadEvent(f"{where}.{name} must be {kind}, got {type(obj[name]).__name__}")
