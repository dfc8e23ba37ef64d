"""The audit log's rows, read and hashed where the stored events are decoded (verify).

Recomputing each audit row's canonical JSON and SHA-256 is most of verify's work in
its main process; the rows of a chunk's positions are independent of each other, so
the worker that decodes the chunk's stored events also reads their audit rows and
hashes them. The main process keeps what needs the order: each row's link to the
previous row, rows present without an event, events without a row, and the
comparison with the event's own canonical JSON.

Every reader sees the main process's snapshot (`pg_export_snapshot` in verify's
REPEATABLE READ transaction, imported with `SET TRANSACTION SNAPSHOT`), so the rows
the workers judge are exactly those the main process's tables were read with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from projections.audit.chain import (
    AUDIT_COLUMNS,
    CONTENT_COLUMNS,
    audit_time_text,
    canonical_document,
)
from projections.events import parse_time

# The uuids and the time as text, spelt as the canonical JSON spells them (cheap: no
# UUID or datetime per row, and the row's canonical JSON is its columns as they come).
_TEXT_SELECT = {
    "event_id": "event_id::text",
    "aggregate_id": "aggregate_id::text",
    "recorded_at": "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
}
AUDIT_SELECT = ", ".join(_TEXT_SELECT.get(c, c) for c in AUDIT_COLUMNS)
_CONTENT = len(CONTENT_COLUMNS)
_PLAIN = frozenset({str, int, bool, type(None)})


@dataclass(frozen=True)
class AuditRows:
    """What a worker needs to read a chunk's audit rows in verify's snapshot."""

    database_url: str = field(repr=False)  # verify's own (its search path holds audit_log)
    snapshot: str  # pg_export_snapshot() of verify's transaction
    stop: int  # rows after the last stored event read are not judged


class CheckedRow(NamedTuple):  # a tuple: cheap to send back from a worker
    position: int
    prev_hash: str
    hash: str
    digest: str  # sha256(prev_hash || canonical), what `hash` must be
    # Compared with its event's canonical JSON where the reader had the event (`same`),
    # else the row's canonical JSON, for the main process to compare.
    same: bool | None
    canonical: bytes | None


def load_json(data: bytes | str) -> Any:
    """`json.loads`, through orjson when that gives the same (plain values only)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
    if type(value) is dict and _PLAIN.issuperset(map(type, value.values())):
        return value
    return json.loads(data)


def audit_cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """A binary cursor whose jsonb comes back as json's values (through orjson)."""
    cur = conn.cursor(binary=True)
    set_json_loads(load_json, cur)
    return cur


def row_canonical(row: tuple[Any, ...] | list[Any]) -> bytes:
    """The canonical JSON of an AUDIT_SELECT row's content columns."""
    content = dict(zip(CONTENT_COLUMNS, row[:_CONTENT], strict=True))
    # A year before 1000 is the one time to_char spells otherwise (zero-padded).
    if content["recorded_at"][0] == "0":
        content["recorded_at"] = audit_time_text(parse_time(content["recorded_at"]))
    return canonical_document(content)


def check(row: tuple[Any, ...], events: dict[int, bytes] | None = None) -> CheckedRow:
    """Hash the row; compare it with its event's canonical JSON if `events` has it."""
    canonical = row_canonical(row)
    prev_hash, stored_hash = row[_CONTENT], row[_CONTENT + 1]
    digest = hashlib.sha256(prev_hash.encode() + canonical).hexdigest()
    event = None if events is None else events.get(row[0])
    if event is None:
        return CheckedRow(row[0], prev_hash, stored_hash, digest, None, canonical)
    return CheckedRow(row[0], prev_hash, stored_hash, digest, event == canonical, None)


def read_checked(
    conn: psycopg.Connection[Any],
    spec: AuditRows,
    after: int,
    upto: int,
    events: dict[int, bytes] | None = None,
) -> list[CheckedRow]:
    """The audit rows with after < position <= min(upto, stop), checked, in order;
    `events`: the canonical JSON of the range's stored events, by position."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(spec.snapshot)))
        rows = (
            audit_cursor(conn)
            .execute(
                f"SELECT {AUDIT_SELECT} FROM audit_log"
                " WHERE position > %s AND position <= %s ORDER BY position",
                (after, min(upto, spec.stop)),
            )
            .fetchall()
        )
    finally:
        conn.execute("COMMIT")
    return [check(row, events) for row in rows]
