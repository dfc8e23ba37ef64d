"""Stored rows decoded in worker processes, in order: replay's and verify's throughput.

Decoding a stored event (JSON, its event id, its time) and spelling its audit row
(canonical JSON, the COPY line) take most of a rebuild's time and need nothing but
the row, so worker processes do them on chunks of rows while the main process
reads the next rows and folds the previous ones; results come back in position
order, and the fold stays sequential. A row the fast decoder cannot read comes back
undecoded and goes through the library's mapper in the main process (it needs the
application), so every row ends as the same event dict as before.

A `DecodedPage` holds a chunk's results: the events the fold needs, and, when asked
(`audit`), every row's canonical audit JSON and the content columns of its
audit_log COPY line.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from typing import Any
from uuid import UUID

import orjson
import psycopg

from payments.contract.wire import fast_event_message
from projections.audit.chain import (
    audit_content,
    audit_time_text,
    canonical_bytes,
    canonical_document,
)
from projections.decode import decode_stored
from projections.events import Event, parse_time
from projections.rebuild.audit_rows import AuditRows, CheckedRow, read_checked

StoredRow = tuple[int, Any, int, str, bytes]  # position, originator id, version, topic, state
Keep = frozenset[str] | None  # the event types the main process needs as dicts (None: all)
CHUNK_ROWS = 2000  # rows per task: big enough that pickling is cheap per row
NO_AUDIT, CANONICAL, COPY_LINES = 0, 1, 2  # what `audit` asks for besides the events


@dataclass
class DecodedPage:
    """Some stored rows decoded: the events wanted, and every row's audit spelling.

    Pickling an event dict back from a worker costs about as much as decoding it, so
    only the events the fold needs (`keep`) come back as dicts; every row's audit
    spelling comes back as bytes, aligned with `positions`.
    """

    positions: list[int]  # every row's, in order
    events: list[Event]  # the kept ones, in order
    canonical: list[bytes] | None = None  # canonical_bytes(audit_content(event)) per row
    copy_lines: list[bytes] | None = None  # audit_log's content columns per row, COPY text
    full: list[Event] | None = None  # every row's event, when a source had them at hand
    lookup: Callable[[int], Event] | None = None  # else: the event at a position, read again
    # The audit rows of the chunk's positions, read and hashed beside it (verify):
    # None when the chunk's source did not ask for them.
    checked: list[CheckedRow] | None = None

    def event_at(self, index: int) -> Event:
        """The full event of row `index`, kept or not (read again if need be: a rare need)."""
        if self.full is not None:
            return self.full[index]
        assert self.lookup is not None
        return self.lookup(self.positions[index])


@dataclass(frozen=True)
class StoreRange:
    """Stored rows a worker reads itself (after < notification_id <= upto): nothing to
    pickle on the way out, and the main process never touches their bytes."""

    dsn: str
    password: str | None
    query: str  # the columns of StoredRow; parameters: after, upto
    after: int
    upto: int
    audit_rows: AuditRows | None = None  # also read and hash the range's audit rows


_connections: dict[tuple[str, str | None], psycopg.Connection[Any]] = {}


def _connection(dsn: str, password: str | None = None) -> psycopg.Connection[Any]:
    """This process's connection to `dsn` (a worker keeps one per database URL)."""
    conn = _connections.get((dsn, password))
    if conn is None or conn.closed:
        conn = _connections[(dsn, password)] = psycopg.connect(
            dsn, password=password, autocommit=True
        )
    return conn


def read_range(spec: StoreRange) -> list[StoredRow]:
    cur = _connection(spec.dsn, spec.password).cursor(binary=True)
    return cur.execute(spec.query.encode(), (spec.after, spec.upto)).fetchall()  # type: ignore[return-value]


def worker_count() -> int:
    """Worker processes: one per core, none on one core (the main process decodes)."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, 4)


def spell(events: list[Event], keep: Keep, audit: int) -> DecodedPage:
    """A page of decoded events as a DecodedPage, in this process."""
    kept = events if keep is None else [e for e in events if e["event_type"] in keep]
    page = DecodedPage([e["position"] for e in events], kept)
    if audit != NO_AUDIT:
        contents = [audit_content(e) for e in events]
        page.canonical = [canonical_bytes(c) for c in contents]
        if audit == COPY_LINES:
            page.copy_lines = [copy_line(c) for c in contents]
    return page


def _undecodable(*row: Any) -> Event:
    raise _NeedsMapper


class _NeedsMapper(Exception):
    """The fast decoder cannot read the row: the main process's mapper must."""


_Result = tuple[list[Event], list[bytes] | None, list[bytes] | None]
Chunk = list[StoredRow] | StoreRange


def decode_chunk(
    chunk: Chunk, keep: Keep, audit: int
) -> tuple[list[int], list[StoredRow] | None, _Result | None, list[CheckedRow] | None]:
    """A worker's task: (positions, None, results, audit rows), or (positions, rows, None,
    audit rows) when a row needs the mapper (the main process then decodes the rows
    given back). The audit rows are there when the chunk asks for them."""
    rows = read_range(chunk) if isinstance(chunk, StoreRange) else chunk
    positions = [row[0] for row in rows]
    try:
        page = spell_rows(rows, keep, audit)
    except _NeedsMapper:
        return positions, rows, None, audit_rows_of(chunk)
    checked = audit_rows_of(chunk, page)
    # Compared here with the events' canonical JSON: no need to send that back.
    canonical = page.canonical if checked is None else None
    return positions, None, (page.events, canonical, page.copy_lines), checked


def audit_rows_of(chunk: Chunk, page: DecodedPage | None = None) -> list[CheckedRow] | None:
    """The chunk's audit rows, checked (against `page`'s events if given), if it asks
    for them (verify)."""
    if not isinstance(chunk, StoreRange) or chunk.audit_rows is None:
        return None
    spec = chunk.audit_rows
    events = None
    if page is not None and page.canonical is not None:
        events = dict(zip(page.positions, page.canonical, strict=True))
    return read_checked(_connection(spec.database_url), spec, chunk.after, chunk.upto, events)


def spell_rows(rows: list[StoredRow], keep: Keep, audit: int) -> DecodedPage:
    """`spell` of the rows' decoded events, in one pass over each row's message.

    The audit spelling is made from the message while its ids and time are still the
    text the audit row holds (`decode_stored` parses the time, the audit spells it
    back): the same bytes, tests/unit/test_rebuild_parallel.py holds them to it. Only
    the kept events get a parsed time. A row whose time or envelope is unusual is
    spelt the reference way; one the fast decoder cannot read raises _NeedsMapper.
    """
    positions: list[int] = []
    kept: list[Event] = []
    canonical: list[bytes] = []
    lines: list[bytes] = []
    for row in rows:
        message = fast_event_message(*row)
        if message is None:
            raise _NeedsMapper
        text = message["recorded_at"]
        if audit != NO_AUDIT:
            if _spelt_as_audited(message, text):
                canonical.append(canonical_document(message))
                if audit == COPY_LINES:
                    lines.append(_message_copy_line(message, text))
            else:
                content = audit_content({**message, "recorded_at": parse_time(text)})
                canonical.append(canonical_bytes(content))
                if audit == COPY_LINES:
                    lines.append(copy_line(content))
        positions.append(message["position"])
        if keep is None or message["event_type"] in keep:
            message["recorded_at"] = parse_time(text)
            kept.append(message)
    page = DecodedPage(positions, kept)
    if audit != NO_AUDIT:
        page.canonical = canonical
        if audit == COPY_LINES:
            page.copy_lines = lines
    return page


_TEXT_OR_NULL = frozenset({str, type(None)})


def _spelt_as_audited(message: Event, time_text: str) -> bool:
    """The message's text is the audit's spelling: a 4-digit-year wire time (which
    audit_time_text writes back unchanged) and a text or null command id and actor."""
    return (
        len(time_text) == 27
        and time_text[0] != "0"
        and type(message["command_id"]) in _TEXT_OR_NULL
        and type(message["actor"]) in _TEXT_OR_NULL
    )


def _message_copy_line(message: Event, time_text: str) -> bytes:
    """`copy_line(audit_content(event))` from the message's own text (see spell_rows)."""
    command_id, actor = message["command_id"], message["actor"]
    fields = (
        str(message["position"]),
        message["event_id"],
        _copy_escape(message["event_type"]),
        _copy_escape(message["aggregate_type"]),
        message["aggregate_id"],
        str(message["aggregate_version"]),
        _NULL if command_id is None else _copy_escape(command_id),
        _NULL if actor is None else _copy_escape(actor),
        time_text,
        _copy_escape(_payload_json(message["payload"])),
        "",  # prev_hash and hash follow
    )
    return "\t".join(fields).encode()


_NULL = "\\N"  # COPY text's null


def decode_in_order(
    chunks: Iterable[Chunk],
    keep: Keep,
    audit: int,
    fallback: Callable[..., Event],
    lookup: Callable[[int], Event],
    workers: int | None = None,
) -> Iterator[DecodedPage]:
    """Each chunk of rows decoded, in the order given; a few chunks are in flight."""
    count = worker_count() if workers is None else workers
    if count == 0:
        for chunk in chunks:
            rows = read_range(chunk) if isinstance(chunk, StoreRange) else chunk
            events = [decode_stored(*row, fallback=fallback) for row in rows]
            page = _with_lookup(spell(events, keep, audit), lookup)
            page.checked = audit_rows_of(chunk, page)
            yield page
        return
    # fork: the workers start at once and inherit the imported modules; they run
    # only decode_chunk (their own connections), never the parent's connections or threads.
    with multiprocessing.get_context("fork").Pool(count) as pool:
        pending: deque[AsyncResult[Any]] = deque()
        source = iter(chunks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * count + 1:  # bounded read-ahead
                chunk = next(source, None)
                if chunk is None:
                    exhausted = True
                else:
                    pending.append(pool.apply_async(decode_chunk, (chunk, keep, audit)))
            if not pending:
                return
            positions, rows, done, checked = pending.popleft().get()
            if done is None:  # a row for the mapper: these rows here, the same way
                events = [decode_stored(*row, fallback=fallback) for row in rows]
                page = _with_lookup(spell(events, keep, audit), lookup)
                page.checked = checked
                yield page
            else:
                yield DecodedPage(positions, *done, lookup=lookup, checked=checked)


def _with_lookup(page: DecodedPage, lookup: Callable[[int], Event]) -> DecodedPage:
    page.lookup = lookup
    return page


def copy_line(content: dict[str, Any]) -> bytes:
    """audit_log's content columns as a COPY text line's start (prev_hash, hash follow)."""
    fields = [_copy_text(content[name]) for name in _TEXT_COLUMNS]
    payload = content["payload"]
    fields.append(_copy_escape(_payload_json(payload)))
    return "\t".join(fields).encode() + b"\t"


_TEXT_COLUMNS = (
    "position",
    "event_id",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "command_id",
    "actor",
    "recorded_at",
)
_PLAIN = frozenset({str, int, bool, type(None)})


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if type(value) is int:
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "tzinfo"):  # a datetime: the instant, exactly, in UTC
        return audit_time_text(value)
    return _copy_escape(str(value))


def _copy_escape(text: str) -> str:
    if "\\" in text or "\n" in text or "\r" in text or "\t" in text:
        # Chained replace (backslash first): several times faster than str.translate
        # on the command records' payloads, which hold their signed JSON as a string.
        return (
            text.replace("\\", "\\\\")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
    return text


def _payload_json(payload: Any) -> str:
    """The payload as psycopg's Jsonb sends it (json.dumps), orjson's where that is the same."""
    if type(payload) is dict and _PLAIN.issuperset(map(type, payload.values())):
        try:
            return orjson.dumps(payload).decode()
        except TypeError:  # a huge integer: json's spelling
            pass
    return json.dumps(payload)
