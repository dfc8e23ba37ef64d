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

from collections.abc import Callable
from typing import Any

from payments.contract.wire import fast_event_message
from projections.events import Event, parse_time

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
    message = fast_event_message(position, originator_id, version, topic, state)
    if message is None:
        return fallback(position, originator_id, version, topic, state)
    message["recorded_at"] = parse_time(message["recorded_at"])
    return message
