"""Apply a batch of events to the audit log: stage them, then extend the hash chain.

Kafka partitions interleave, so events arrive out of position order. They are first
staged (unchained); then the chain grows over the positions that must come next.
Notification ids have gaps on PostgreSQL (a rolled-back insert burns its id), so the
event store itself says which positions exist: the chain takes the store's next
positions in order and stops at the first one not staged yet. A later batch, maybe
from another partition's consumer, carries on. The one-row `audit_chain_head`,
locked FOR UPDATE, makes chain extensions take turns.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from projections.audit import AUDIT_COLUMNS, CONTENT_COLUMNS, audit_content, chain
from projections.events import Event
from projections.sqlrows import insert_rows

EVENTS_TABLE = "payments_events"  # the event store's table (the notification log)
CHAIN_PAGE = 5000


def apply_audit(
    cur: psycopg.Cursor, events: Sequence[Event], events_table: str = EVENTS_TABLE
) -> int:
    """Stage `events` and chain what can be chained; returns the rows chained."""
    head_position, head_hash = cur.execute(
        "SELECT position, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE"
    ).fetchone()
    fresh = [audit_content(e) for e in events if e["position"] > head_position]
    insert_rows(cur, "audit_staging", CONTENT_COLUMNS, fresh)
    chained = 0
    while True:
        rows = _next_chainable(cur, head_position, events_table)
        if not rows:
            break
        linked = list(chain(head_hash, rows))
        insert_rows(cur, "audit_log", AUDIT_COLUMNS, linked)
        head_position, head_hash = linked[-1]["position"], linked[-1]["hash"]
        chained += len(linked)
        if len(linked) < CHAIN_PAGE:
            break
    if chained:
        cur.execute(
            "UPDATE audit_chain_head SET position = %s, hash = %s WHERE id = 1",
            (head_position, head_hash),
        )
    # Also drops re-deliveries of positions the chain already holds.
    cur.execute("DELETE FROM audit_staging WHERE position <= %s", (head_position,))
    return chained


def _next_chainable(cur: psycopg.Cursor, after: int, events_table: str) -> list[dict[str, object]]:
    """Staged rows for the store's next positions, in order, up to the first missing."""
    expected = [
        position
        for (position,) in cur.execute(
            sql.SQL(
                "SELECT notification_id FROM {} WHERE notification_id > %s"
                " ORDER BY notification_id LIMIT %s"
            ).format(sql.Identifier(events_table)),
            (after, CHAIN_PAGE),
        )
    ]
    if not expected:
        return []
    staged = {
        row[0]: dict(zip(CONTENT_COLUMNS, row, strict=True))
        for row in cur.execute(
            sql.SQL("SELECT {} FROM audit_staging WHERE position = ANY(%s)").format(
                sql.SQL(", ").join(map(sql.Identifier, CONTENT_COLUMNS))
            ),
            (expected,),
        )
    }
    rows = []
    for position in expected:
        row = staged.get(position)
        if row is None:
            break
        rows.append(row)
    return rows
