"""Version gaps on the read side: what is missing is read from the event store.

Per aggregate, a projection applies versions 1, 2, 3 … in order. Kafka keeps that
order per partition, but an aggregate's events can arrive out of it: partitions were
added (new events hash elsewhere), a record was skipped as unreadable, retention
dropped it. So a batch is completed before it is folded: for every aggregate whose
events in the batch do not follow its stored `last_version` without a hole, the
missing versions are read from the event store (same database, same transaction:
`payments_events`, which the app role may SELECT) and decoded as the relay does.
The completed batch is sorted by position, which keeps each aggregate's versions in
order (notification ids commit in version order). Versions at or below the stored
one are re-sends and stay skipped by the folds.

The relay only publishes stored events, so the store always holds an event's
predecessors. When it does not, the event is not a stored event (forged, or from
another store): `NotInStore` says so and the consumer quarantines the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from payments.contract.tables import EVENTS_TABLE
from projections.decode import decode_stored
from projections.events import Event, check_event

# (aggregate id as text) → the version last applied (0: none).
LastVersions = Mapping[str, int]


class NotInStore(ValueError):
    """An event whose missing predecessors the event store does not hold."""


Relevant = Callable[[Event], bool]
# aggregate id → (after, before): versions strictly between them are wanted.
Ranges = dict[str, tuple[int, int]]


def gaps(events: Iterable[Event], last: LastVersions, relevant: Relevant | None = None) -> Ranges:
    """Aggregates whose versions in this batch leave a hole after the last applied one.

    Only an aggregate's `relevant` events count (a projection that skips an event
    type without recording its version must not ask for it again and again).
    """
    seen: dict[str, set[int]] = {}
    tops: dict[str, int] = {}  # highest relevant version per aggregate
    for event in events:
        aggregate_id, version = event["aggregate_id"], event["aggregate_version"]
        seen.setdefault(aggregate_id, set()).add(version)
        if relevant is None or relevant(event):
            tops[aggregate_id] = max(version, tops.get(aggregate_id, 0))
    ranges: Ranges = {}
    for aggregate_id, top in tops.items():
        after = last.get(aggregate_id, 0)
        present = sum(1 for v in seen[aggregate_id] if after < v < top)
        if present < top - after - 1:  # counted, never listed: a forged version is huge
            ranges[aggregate_id] = (after, top)
    return ranges


def complete(
    cur: psycopg.Cursor,
    events: Sequence[Event],
    last: LastVersions,
    relevant: Relevant | None = None,
    events_table: str = EVENTS_TABLE,
) -> list[Event]:
    """`events` plus the stored events they skip over, in position order.

    Returns `events` in their own order when nothing is missing: the common case
    costs no query.
    """
    ranges = gaps(events, last, relevant)
    if not ranges:
        return list(events)
    fetched = fetch_versions(cur, ranges, events_table)
    for aggregate_id, (after, before) in ranges.items():
        have = {v for (a, v) in fetched if a == aggregate_id}
        have.update(
            e["aggregate_version"]
            for e in events
            if e["aggregate_id"] == aggregate_id and after < e["aggregate_version"] < before
        )
        if len(have) < before - after - 1:
            raise NotInStore(
                f"aggregate {aggregate_id}: versions {after + 1}..{before - 1} are not all"
                f" in the event store (found {len(have)})"
            )
    # One event per (aggregate, version), the store's copy first: re-sends collapse.
    merged: dict[tuple[str, int], Event] = dict(fetched)
    for event in events:
        merged.setdefault((event["aggregate_id"], event["aggregate_version"]), event)
    return sorted(merged.values(), key=lambda e: e["position"])


def fetch_versions(
    cur: psycopg.Cursor, ranges: Ranges, events_table: str = EVENTS_TABLE
) -> dict[tuple[str, int], Event]:
    """The stored events with after < version < before, by (aggregate id, version)."""
    ids: list[UUID] = []
    afters: list[int] = []
    befores: list[int] = []
    for aggregate_id, (after, before) in ranges.items():
        try:
            ids.append(UUID(aggregate_id))
        except ValueError:
            raise NotInStore(f"aggregate id {aggregate_id!r} is not a UUID") from None
        afters.append(after)
        befores.append(before)
    cur.execute(
        sql.SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state"
            " FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[]) AS w(id, after, before)"
            " JOIN {} AS e ON e.originator_id = w.id"
            " AND e.originator_version > w.after AND e.originator_version < w.before"
            " ORDER BY e.notification_id"
        ).format(sql.Identifier(events_table)),
        (ids, afters, befores),
    )
    found: dict[tuple[str, int], Event] = {}
    for row in cur.fetchall():
        event = decode_row(*row)
        found[(event["aggregate_id"], event["aggregate_version"])] = event
    return found


def fetch_positions(
    cur: psycopg.Cursor, positions: Sequence[int], events_table: str = EVENTS_TABLE
) -> list[Event]:
    """The stored events at these notification ids, in order (the audit log's fill)."""
    if not positions:
        return []
    cur.execute(
        sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            " WHERE notification_id = ANY(%s) ORDER BY notification_id"
        ).format(sql.Identifier(events_table)),
        (list(positions),),
    )
    return [decode_row(*row) for row in cur.fetchall()]


def decode_row(position: int, originator_id: Any, version: int, topic: str, state: Any) -> Event:
    """A stored row as the relay's event dict, checked like a record from Kafka."""
    return check_event(
        decode_stored(position, originator_id, version, topic, bytes(state), _fallback())
    )


@cache
def _fallback() -> Callable[[int, Any, int, str, bytes], Event]:
    """The library's own mapper for rows the fast decoder declines (built once)."""
    from eventsourcing.persistence import Notification

    from payments.contract.wire import event_message
    from payments.ledger.store import in_memory_application  # read only: for its mapper

    mapper = in_memory_application().mapper

    def decode(position: int, originator_id: Any, version: int, topic: str, state: bytes) -> Event:
        return event_message(Notification(originator_id, version, topic, state, position), mapper)

    return decode
