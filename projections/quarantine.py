"""Records a projection cannot use: quarantined, never skipped silently, never spun on.

A record on the events topic that is not an event (`BadEvent`), claims versions the
event store does not hold (`NotInStore`), or that PostgreSQL refuses to store (a NUL
in a text, an integer beyond bigint, a value of the wrong type) would otherwise
either vanish with a log line or fail its batch for ever. The consumer instead
writes it to `projection_quarantine` (reason and value, cut to 64 KiB) in the same
transaction that advances past it, and moves on: one forged record does not stop
every balance. It stays loud until an operator acknowledges it
(`acknowledged_at`): the consumers' /health is red while any row is open, the
metric `payments_projection_poison_events_total{projection,reason}` counts it, and
`payments verify` lists every open row as a difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from projections.events import BadEvent
from projections.gaps import NotInStore

VALUE_LIMIT = 64 * 1024
REASON_LIMIT = 1024

# What a record's content can cause (the batch is retried one event at a time, and
# the event that raises one of these is quarantined). Anything else (a lost
# connection, a deadlock, a bug in our SQL) fails the batch and is retried whole.
POISON_ERRORS: tuple[type[BaseException], ...] = (
    BadEvent,
    NotInStore,
    psycopg.errors.DataError,  # out of range, NUL in text/jsonb, bad uuid or time
    psycopg.errors.IntegrityConstraintViolation,  # NOT NULL, CHECK
    KeyError,
    TypeError,
    ValueError,
    ArithmeticError,
)


def reason_label(error: BaseException) -> str:
    """A bounded metric label for why a record was quarantined."""
    if isinstance(error, BadEvent):
        return "unreadable"
    if isinstance(error, NotInStore):
        return "not_in_store"
    if isinstance(error, psycopg.Error):
        return "unstorable"
    return "unfoldable"


@dataclass(frozen=True)
class Quarantined:
    partition: int
    offset: int
    label: str
    reason: str
    value: bytes | None


def poisoned(partition: int, offset: int, error: BaseException, value: bytes | None) -> Quarantined:
    text = f"{type(error).__name__}: {error}".replace("\x00", "\\x00")
    return Quarantined(partition, offset, reason_label(error), text[:REASON_LIMIT], value)


def quarantine(
    cur: psycopg.Cursor, projection: str, topic: str, records: Iterable[Quarantined]
) -> list[Quarantined]:
    """Insert the records; returns those new here (a re-read after a rewind is not)."""
    new = []
    for record in records:
        value = record.value
        cur.execute(
            'INSERT INTO projection_quarantine (projection, topic, partition, "offset",'
            " reason, value, value_bytes) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            (
                projection,
                topic,
                record.partition,
                record.offset,
                f"{record.label}: {record.reason}",
                None if value is None else value[:VALUE_LIMIT],
                0 if value is None else len(value),
            ),
        )
        if cur.fetchone() is not None:
            new.append(record)
    return new


@dataclass(frozen=True)
class OpenQuarantine:
    count: int
    last_reason: str | None


def open_quarantine(cur: psycopg.Cursor, projection: str) -> OpenQuarantine:
    """How many records of `projection` wait for an operator, and the latest reason."""
    count, reason = cur.execute(
        "SELECT count(*), (array_agg(reason ORDER BY quarantined_at DESC))[1]"
        " FROM projection_quarantine WHERE projection = %s AND acknowledged_at IS NULL",
        (projection,),
    ).fetchone()
    return OpenQuarantine(int(count), reason)


def open_rows(cur: psycopg.Cursor) -> list[tuple[str, str, int, int, str]]:
    """Every unacknowledged record: (projection, topic, partition, offset, reason)."""
    if cur.execute("SELECT to_regclass('projection_quarantine')").fetchone() == (None,):
        return []  # installed before quarantine existed
    return [
        tuple(row)
        for row in cur.execute(
            'SELECT projection, topic, partition, "offset", reason FROM projection_quarantine'
            ' WHERE acknowledged_at IS NULL ORDER BY projection, topic, partition, "offset"'
        ).fetchall()
    ]
