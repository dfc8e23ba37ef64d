"""projection_positions: the next Kafka offset of each partition, per projection.

Written in the same transaction as the rows it covers, so it is the truth about
what a projection has applied (Kafka's committed offsets are only a courtesy).
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg


def load_positions(
    cur: psycopg.Cursor, projection: str, topic: str, *, lock: bool = False
) -> dict[int, int]:
    """partition → next_offset; `lock` holds the rows until the transaction ends."""
    query = (
        "SELECT partition, next_offset FROM projection_positions"
        " WHERE projection = %s AND topic = %s"
    )
    if lock:
        query += " FOR UPDATE"
    cur.execute(query.encode(), (projection, topic))
    return {partition: offset for partition, offset in cur.fetchall()}


def save_positions(
    cur: psycopg.Cursor, projection: str, topic: str, next_offsets: Mapping[int, int]
) -> None:
    cur.executemany(
        "INSERT INTO projection_positions (projection, topic, partition, next_offset)"
        " VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (projection, topic, partition)"
        " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
        [(projection, topic, partition, offset) for partition, offset in next_offsets.items()],
    )


def replace_positions(
    cur: psycopg.Cursor, projection: str, topic: str, next_offsets: Mapping[int, int]
) -> None:
    """Set exactly these positions (replay's hand-over to the consumers)."""
    cur.execute(
        "DELETE FROM projection_positions WHERE projection = %s AND topic = %s",
        (projection, topic),
    )
    save_positions(cur, projection, topic, next_offsets)
