"""The Kafka message formats (JSON): relayed events, outcomes and dead letters.

`event_message` is shared by the relay and the read-side replay, so a projection
rebuilt from the store sees exactly what consumers saw on `payments.events`.

Answers always fit the broker's message size (1 MB by default) and always encode:
what an outcome or a dead letter echoes of the input (ids, type, key, value) is cut
to a limit with a visible marker, and `encode` replaces what UTF-8 cannot hold.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

import orjson
from eventsourcing.persistence import Mapper, Notification

from payments.domain.personal_data import PERSONAL_DATA_COMMANDS, PERSONAL_FIELDS

DEAD_LETTER_VALUE_LIMIT = 64 * 1024
ECHO_LIMIT = 1024  # characters of an id, type, reason or message echoed in an answer
KEY_LIMIT = 1024  # bytes of a record key echoed as an answer's key
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


def fast_event_message(
    position: int, originator_id: Any, version: int, topic: str, state: bytes
) -> dict[str, Any] | None:
    """`event_message` from a stored row with one `orjson.loads`, or None if it needs the mapper.

    Stored state is the library's default JSON transcoding (no cipher, no compression),
    in which the `timestamp` is the one transcoded value. Rebuilding a domain event
    object per row, as the mapper does, costs the relay and replay most of their time.
    """
    try:
        document = _load_document(state)
        stamp = document["timestamp"]
        if stamp["_type_"] != "datetime_iso":
            return None
        payload = {k: v for k, v in document.items() if k not in _NOT_PAYLOAD}
        if any(isinstance(v, dict) and "_type_" in v for v in payload.values()):
            return None
        recorded_at = _utc_text(stamp["_data_"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    event_type = topic.rpartition(":")[2]
    aggregate_id, id_bytes = _uuid_text_and_bytes(originator_id)
    return {
        "position": position,
        "event_id": _event_id_text(id_bytes, version),
        "event_type": event_type,
        "aggregate_type": event_type.split(".", 1)[0],
        "aggregate_id": aggregate_id,
        "aggregate_version": version,
        "command_id": document.get("command_id"),
        "actor": document.get("actor"),
        "recorded_at": recorded_at,
        "payload": payload,
    }


_PLAIN_OR_DICT = frozenset({str, int, bool, type(None), dict})


def _load_document(state: bytes) -> dict[str, Any]:
    """`json.loads(state)`, through orjson (several times faster) when that is the same.

    orjson turns an integer beyond 64 bits into a float where json keeps it exact, and
    refuses what json accepts (NaN, lone surrogates): any value that is not plain, or
    any refusal, is decoded again by json, so the result is json's.
    """
    try:
        document = orjson.loads(state)
    except orjson.JSONDecodeError:
        return json.loads(state)  # type: ignore[no-any-return]
    if type(document) is not dict:
        return json.loads(state)  # type: ignore[no-any-return]
    kinds = list(map(type, document.values()))
    # One dict (the timestamp, whose values fromisoformat checks), the rest plain.
    if kinds.count(dict) > 1 or not _PLAIN_OR_DICT.issuperset(kinds):
        return json.loads(state)  # type: ignore[no-any-return]
    return document


def _utc_text(stamp: str) -> str:
    """`iso_utc(datetime.fromisoformat(stamp))`, without the round trip for a UTC stamp."""
    moment = datetime.fromisoformat(stamp)  # also rejects what the mapper would
    if len(stamp) == 32 and stamp.endswith("+00:00") and stamp[19] == ".":
        return stamp[:26] + "Z"  # already UTC with microseconds: the same text
    return iso_utc(moment)


def event_id_text(aggregate_id: UUID, version: int) -> str:
    """`str(event_id(aggregate_id, version))` without building UUID objects (uuid5 by hand)."""
    return _event_id_text(aggregate_id.bytes, version)


def _event_id_text(aggregate_id: bytes, version: int) -> str:
    digest = bytearray(hashlib.sha1(aggregate_id + str(version).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid_text_and_bytes(value: Any) -> tuple[str, bytes]:
    """A stored originator id (a UUID, or its text) as canonical text and 16 bytes.

    The store's own text (`uuid::text`) is canonical already: read as hex without
    building a UUID; any other spelling goes through UUID, which also rejects it
    if it is no UUID at all.
    """
    if isinstance(value, UUID):
        return str(value), value.bytes
    text = str(value)
    if (
        len(text) == 36
        and text[8] == text[13] == text[18] == text[23] == "-"
        and text == text.lower()
    ):
        try:
            raw = bytes.fromhex(text.replace("-", ""))
        except ValueError:
            raw = b""
        if len(raw) == 16:
            return text, raw
    parsed = UUID(text)
    return str(parsed), parsed.bytes


def notification_message(notification: Notification, mapper: Mapper[Any]) -> dict[str, Any]:
    """The fast path when it applies, else the mapper's: the same dict either way."""
    fast = fast_event_message(
        notification.id,
        notification.originator_id,
        notification.originator_version,
        notification.topic,
        notification.state,
    )
    return fast if fast is not None else event_message(notification, mapper)


# Headers of every events-topic record: what a consumer needs to pass over a record of
# an aggregate it does not follow (and still know how far the topic has got) without
# decoding its JSON. The value stays the truth; the headers repeat two of its fields.
AGGREGATE_TYPE_HEADER = "aggregate_type"
POSITION_HEADER = "position"


def event_headers(message: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [
        (AGGREGATE_TYPE_HEADER, message["aggregate_type"].encode()),
        (POSITION_HEADER, str(message["position"]).encode()),
    ]


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text`, or its first `limit` characters and a marker saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[cut: {len(text)} characters]"


def cut_key(key: bytes | None, limit: int = KEY_LIMIT) -> bytes | None:
    if key is None or len(key) <= limit:
        return key
    return key[:limit] + f"...[cut: {len(key)} bytes]".encode()


def encode(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate that slipped into a string becomes '?'."""
    try:
        return orjson.dumps(document)  # the same bytes, several times faster
    except TypeError:  # a lone surrogate (or an integer beyond 64 bits)
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", errors="replace")


def outcome_message(
    command_id: str,
    command_type: str | None,
    status: str,
    code: str | None,
    message: str,
    replayed: bool,
    processed_at: datetime,
) -> dict[str, Any]:
    """One command's answer, for `payments.command-results`; echoes are cut."""
    return {
        "command_id": cut(command_id),
        "type": None if command_type is None else cut(command_type, 256),
        "status": status,
        "code": code,
        "message": cut(message),
        "replayed": replayed,
        "processed_at": iso_utc(processed_at),
    }


def dead_letter(
    reason: str, topic: str, partition: int, offset: int, value_bytes: bytes | None
) -> dict[str, Any]:
    """A record that could not be read as a command, for `payments.commands.dlq`."""
    raw = value_bytes or b""
    return {
        "reason": cut(reason),
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "value": without_personal_data(raw)[:DEAD_LETTER_VALUE_LIMIT],
        "value_bytes": len(raw),
    }


WITHHELD = "[withheld]"
# What may mark personal data in a record that is not JSON: then nothing of it is kept.
_PERSONAL_MARKERS = tuple(f'"{f}"'.encode() for f in PERSONAL_FIELDS) + tuple(
    t.encode() for t in PERSONAL_DATA_COMMANDS
)


def without_personal_data(raw: bytes) -> str:
    """A dead letter's value: personal-data fields withheld (docs/security.md)."""
    try:
        document = orjson.loads(raw)
        if not _holds_personal_field(document):
            return raw.decode("utf-8", errors="replace")
        return encode(_withhold(document)).decode("utf-8", errors="replace")
    except (orjson.JSONDecodeError, RecursionError):
        if any(marker in raw for marker in _PERSONAL_MARKERS):
            return ""
        return raw.decode("utf-8", errors="replace")


def _holds_personal_field(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k in PERSONAL_FIELDS or _holds_personal_field(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_personal_field(v) for v in value)
    return False


def _withhold(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: WITHHELD if k in PERSONAL_FIELDS else _withhold(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_withhold(v) for v in value]
    return value
