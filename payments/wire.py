"""The Kafka message formats (JSON): relayed events and dead letters.

`event_message` is shared by the relay and the read-side replay, so a projection
rebuilt from the store sees exactly what consumers saw on `payments.events`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.persistence import Mapper, Notification

DEAD_LETTER_VALUE_LIMIT = 64 * 1024
# The library's and the envelope's own fields; the payload holds the event's.
_NOT_PAYLOAD = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "command_id", "actor"}
)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, microsecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_id(aggregate_id: UUID, version: int) -> UUID:
    return uuid5(aggregate_id, str(version))


def event_message(notification: Notification, mapper: Mapper[Any]) -> dict[str, Any]:
    """One stored event as the `payments.events` message."""
    event = mapper.to_domain_event(notification)
    event_type = type(event).__qualname__  # e.g. "Account.Debited"
    aggregate_id = UUID(str(notification.originator_id))
    state = vars(event)
    return {
        "position": notification.id,
        "event_id": str(event_id(aggregate_id, notification.originator_version)),
        "event_type": event_type,
        "aggregate_type": event_type.split(".", 1)[0],
        "aggregate_id": str(aggregate_id),
        "aggregate_version": notification.originator_version,
        "command_id": state.get("command_id"),
        "actor": state.get("actor"),
        "recorded_at": iso_utc(event.timestamp),
        "payload": {k: v for k, v in state.items() if k not in _NOT_PAYLOAD},
    }


def dead_letter(
    reason: str, topic: str, partition: int, offset: int, value_bytes: bytes | None
) -> dict[str, Any]:
    """A record that could not be read as a command, for `payments.commands.dlq`."""
    raw = value_bytes or b""
    return {
        "reason": reason,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "value": raw[:DEAD_LETTER_VALUE_LIMIT].decode("utf-8", errors="replace"),
        "value_bytes": len(raw),
    }
