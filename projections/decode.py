"""Stored events to event dicts, fast: replay's path through millions of rows.

`payments.wire.event_message` (through the library's mapper) is the reference: it
rebuilds a domain event object per row, which caps a replay near 40,000 events/s.
Stored state is the default JSON transcoding (no cipher, no compression), so the
common row decodes with one `json.loads`: the library's `timestamp` is its one
transcoded value (`{"_type_": "datetime_iso", ...}`). A row with anything else
transcoded (or not JSON at all) goes through the reference path, so both paths give
the same dict; tests/unit/test_projection_decode.py holds them to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid5

from projections.events import Event, parse_time

_NOT_PAYLOAD = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "command_id", "actor"}
)

Fallback = Callable[[int, Any, int, str, bytes], Event]


def decode_stored(
    position: int,
    originator_id: Any,
    version: int,
    topic: str,
    state: bytes,
    fallback: Fallback,
) -> Event:
    """One row of the events table as the relay's event dict (recorded_at a datetime)."""
    try:
        document = json.loads(state)
        stamp = document["timestamp"]
        if stamp["_type_"] != "datetime_iso":
            raise ValueError(stamp["_type_"])
        payload = {k: v for k, v in document.items() if k not in _NOT_PAYLOAD}
        if any(isinstance(v, dict) and "_type_" in v for v in payload.values()):
            raise ValueError("transcoded payload value")
        event_type = topic.rpartition(":")[2]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return fallback(position, originator_id, version, topic, state)
    aggregate_id = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    return {
        "position": position,
        "event_id": str(uuid5(aggregate_id, str(version))),
        "event_type": event_type,
        "aggregate_type": event_type.split(".", 1)[0],
        "aggregate_id": str(aggregate_id),
        "aggregate_version": version,
        "command_id": document.get("command_id"),
        "actor": document.get("actor"),
        "recorded_at": parse_time(stamp["_data_"]),
        "payload": payload,
    }
