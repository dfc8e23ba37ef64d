"""Apply a batch of events to the audit log: stage them, then extend the hash chain.

Kafka partitions interleave, so events arrive out of position order. The chain grows
over the positions that must come next, taking each row from the batch at hand or
from staging; rows that must wait for an earlier position are staged (unchained).
Notification ids have gaps on PostgreSQL (a rolled-back insert burns its id), so the
event store itself says which positions exist: the chain takes the store's next
positions in order and stops at the first one not staged yet. A later batch, maybe
from another partition's consumer, carries on. The one-row `audit_chain_head`,
locked FOR UPDATE, makes chain extensions take turns.

A position that never arrives (its record was unreadable, or fell out of retention)
would stop the chain for ever, so the consumer calls `fill_audit_gaps` every few
seconds: a stored position the chain is still waiting for after a whole interval,
with later rows staged, is read from the event store itself and chained.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from projections.audit.chain import AUDIT_COLUMNS, CONTENT_COLUMNS, audit_content, chain
from projections.events import Event
from projections.gaps import fetch_positions
from projections.sqlrows import Row, copy_rows, insert_rows

EVENTS_TABLE = "payments_events"  # the event store's table (the notification log)
CHAIN_PAGE = 5000


def apply_audit(
    cur: psycopg.Cursor, events: Sequence[Event], events_table: str = EVENTS_TABLE
) -> int:
    """Chain what can be chained now, stage the rest; returns the rows chained."""
    head_position, head_hash = cur.execute(
        "SELECT position, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE"
    ).fetchone()
    arrived = {e["position"]: audit_content(e) for e in events if e["position"] > head_position}
    chained = 0
    while True:
        rows = _next_chainable(cur, head_position, arrived, events_table)
        if not rows:
            break
        linked = list(chain(head_hash, rows))
        # COPY: no conflict is possible, positions above the locked head are new.
        copy_rows(cur, "audit_log", AUDIT_COLUMNS, linked)
        head_position, head_hash = linked[-1]["position"], linked[-1]["hash"]
        chained += len(linked)
        if len(linked) < CHAIN_PAGE:
            break
    # Rows of this batch that must wait for an earlier position go to staging.
    insert_rows(
        cur, "audit_staging", CONTENT_COLUMNS, (r for p, r in arrived.items() if p > head_position)
    )
    if chained:
        cur.execute(
            "UPDATE audit_chain_head SET position = %s, hash = %s WHERE id = 1",
            (head_position, head_hash),
        )
        # Also drops re-deliveries of positions the chain already holds.
        cur.execute("DELETE FROM audit_staging WHERE position <= %s", (head_position,))
    return chained


def _next_chainable(
    cur: psycopg.Cursor, after: int, arrived: dict[int, Row], events_table: str
) -> list[Row]:
    """The rows for the store's next positions, in order, up to the first not received.

    A row is received when it is in this batch (`arrived`) or was staged earlier.
    """
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
    # Positions first (cheap): the chain often waits for one late partition while
    # thousands of later rows sit staged; only the chainable prefix is read in full.
    staged = {
        position
        for (position,) in cur.execute(
            "SELECT position FROM audit_staging WHERE position > %s AND position <= %s",
            (after, expected[-1]),
        )
    }
    prefix = []
    for position in expected:
        if position not in arrived and position not in staged:
            break
        prefix.append(position)
    wanted_from_staging = [p for p in prefix if p not in arrived]
    from_staging: dict[int, Row] = {}
    if wanted_from_staging:
        cur.execute(
            sql.SQL("SELECT {} FROM audit_staging WHERE position = ANY(%s)").format(
                sql.SQL(", ").join(map(sql.Identifier, CONTENT_COLUMNS))
            ),
            (wanted_from_staging,),
        )
        from_staging = {r[0]: dict(zip(CONTENT_COLUMNS, r, strict=True)) for r in cur.fetchall()}
    return [arrived.get(p) or from_staging[p] for p in prefix]


def fill_audit_gaps(
    cur: psycopg.Cursor, waited: frozenset[int], events_table: str = EVENTS_TABLE
) -> frozenset[int]:
    """Chain from the store the positions missing since the last call; returns the rest.

    Missing: stored, above the chain's head, below a staged row, not staged. Only
    positions already missing at the previous call (`waited`) are read from the
    store, so a record merely on its way from another partition gets its interval.
    """
    (head,) = cur.execute("SELECT position FROM audit_chain_head WHERE id = 1").fetchone()
    missing = frozenset(
        position
        for (position,) in cur.execute(
            sql.SQL(
                "SELECT e.notification_id FROM {} AS e"
                " WHERE e.notification_id > %(head)s"
                " AND e.notification_id < (SELECT max(position) FROM audit_staging)"
                " AND NOT EXISTS"
                " (SELECT 1 FROM audit_staging s WHERE s.position = e.notification_id)"
                " ORDER BY e.notification_id LIMIT %(page)s"
            ).format(sql.Identifier(events_table)),
            {"head": head, "page": CHAIN_PAGE},
        )
    )
    due = sorted(missing & waited)
    if due:
        apply_audit(cur, fetch_positions(cur, due, events_table), events_table)
    return missing - frozenset(due)
