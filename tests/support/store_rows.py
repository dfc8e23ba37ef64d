"""A stand-in event store for read-side tests: the store's columns, rows from wire events.

The consumers read what a version gap or the audit chain needs from `payments_events`
(`projections.gaps`). A sandbox schema gets a table with the event store's columns and,
for every published event, the row the ledger would have stored: the library's default
JSON state (the `timestamp` transcoded, the envelope's `command_id` and `actor`, the
payload's fields), so `projections.decode` turns it back into the same event dict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from projections.events import Event, format_time

STAND_IN_DDL = (
    "CREATE TABLE payments_events (notification_id bigint PRIMARY KEY,"
    " originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
    " topic text NOT NULL, state bytea NOT NULL,"
    " UNIQUE (originator_id, originator_version))"
)
INSERT_ROWS = (
    "INSERT INTO payments_events"
    " (notification_id, originator_id, originator_version, topic, state)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


def stored_row(event: Event) -> tuple[int, UUID, int, str, bytes]:
    recorded_at = event["recorded_at"]
    stamp = recorded_at if isinstance(recorded_at, str) else format_time(recorded_at)
    state: dict[str, Any] = {
        **event["payload"],
        "command_id": event.get("command_id"),
        "actor": event.get("actor"),
        "timestamp": {"_type_": "datetime_iso", "_data_": stamp.replace("Z", "+00:00")},
    }
    return (
        event["position"],
        UUID(event["aggregate_id"]),
        event["aggregate_version"],
        f"stand-in:{event['event_type']}",
        json.dumps(state).encode(),
    )


def stored_rows(events: Iterable[Event]) -> list[tuple[int, UUID, int, str, bytes]]:
    return [stored_row(e) for e in events]
