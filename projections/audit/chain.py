"""The audit log's rows and its SHA-256 hash chain: the pure rules, no I/O.

One row per stored event, in event-store order (`position`). Each row's
`hash = sha256(prev_hash || canonical JSON of its content)`, with `prev_hash` the
previous row's hash (64 zeros for the first row). Changing, inserting or deleting a
row breaks the chain from there on; comparing rows with the event store catches a
rewrite of the whole chain.

Canonical JSON: keys sorted, no spaces, UTF-8, the time as `format_time` writes it,
so the hash can be recomputed from a table row (jsonb keeps values, not key order).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from projections.events import Event, format_time

Row = dict[str, Any]

GENESIS_HASH = "0" * 64
CONTENT_COLUMNS = (
    "position",
    "event_id",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "command_id",
    "actor",
    "recorded_at",
    "payload",
)
AUDIT_COLUMNS = (*CONTENT_COLUMNS, "prev_hash", "hash")


def audit_content(event: Event) -> Row:
    """The audited content of an event (also what a table row is compared with)."""
    return {name: event.get(name) for name in CONTENT_COLUMNS}


def canonical_json(content: Row) -> str:
    """The reference spelling (json's encoder); `canonical_bytes` is its fast twin."""
    return _ENCODER.encode(_document(content, format_time))


def canonical_bytes(content: Row) -> bytes:
    """`canonical_json(content).encode()`: through orjson, byte for byte json's output.

    orjson (several times faster) writes what `json` writes for strings, integers
    within 64 bits, booleans and null, with keys sorted by code point; anything else
    (a float, a huge integer, a nested value) goes through `json` itself, so the bytes,
    and every hash, stay those of `_ENCODER` (tests/unit/test_audit_canonical.py).
    """
    return canonical_document(_document(content, audit_time_text))


def canonical_document(document: Row) -> bytes:
    """`canonical_bytes` of content whose ids and time are already spelt as text."""
    payload = document.get("payload")
    kinds = list(map(type, document.values()))
    if type(payload) is dict and kinds.count(dict) == 1:
        plain = _PLAIN_OR_DICT.issuperset(kinds) and _PLAIN.issuperset(map(type, payload.values()))
    else:
        plain = _PLAIN.issuperset(kinds)
    if plain:
        try:
            return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # a huge integer, a str subclass: json's path
            pass
    return _ENCODER.encode(document).encode()


def _document(content: Row, time_text: Callable[[datetime], str]) -> Row:
    return {
        **content,
        # uuid columns come back as UUID objects: one spelling for both sides.
        "event_id": _uuid_text(content["event_id"]),
        "aggregate_id": _uuid_text(content["aggregate_id"]),
        "recorded_at": time_text(content["recorded_at"]),
    }


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_PLAIN = frozenset({str, int, bool, type(None)})
_PLAIN_OR_DICT = _PLAIN | {dict}
_ZERO = timedelta(0)


def audit_time_text(moment: datetime) -> str:
    """`format_time(moment)`, the common case (UTC, a four-digit year) without strftime."""
    if moment.utcoffset() == _ZERO and moment.year >= 1000:
        return moment.isoformat(timespec="microseconds")[:26] + "Z"
    return format_time(moment)


def _uuid_text(value: object) -> str:
    if isinstance(value, UUID):
        return str(value)
    text = str(value)
    # Already canonical (lower case, hyphenated) in the common case: skip the parse.
    if len(text) == 36 and text == text.lower():
        return text
    return str(UUID(text))


def row_hash(prev_hash: str, content: Row) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_bytes(content)).hexdigest()


def chain(prev_hash: str, contents: Iterable[Row]) -> Iterator[Row]:
    """Extend the chain from `prev_hash` over `contents` (already in position order)."""
    for content in contents:
        digest = row_hash(prev_hash, content)
        yield {**content, "prev_hash": prev_hash, "hash": digest}
        prev_hash = digest
