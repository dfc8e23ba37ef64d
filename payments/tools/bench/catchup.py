"""When have the read models caught up with the event store?

Two steps, each a fact stored in PostgreSQL by the component itself:

1. the relay's position (`relay_position` for the run's events topic) has reached
   the last notification id of the store: every event is on Kafka, acknowledged;
2. every projection's stored positions (`projection_positions`, written in the
   same transaction as its rows) have reached the events topic's end offsets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg

from payments.contract.tables import EVENTS_TABLE
from projections.kafka_offsets import end_offsets

# The read models the bench measures; `principals` (API keys) is not on its path.
PROJECTIONS = ("balances", "settlements", "audit")
POLL_SECONDS = 0.02


class NotCaughtUp(RuntimeError):
    pass


def last_notification_id(conn: psycopg.Connection) -> int:
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}").fetchone()
    return int(row[0]) if row else 0


def count_events(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
        return int(row[0]) if row else 0


def relay_position(conn: psycopg.Connection, topic: str) -> int:
    row = conn.execute(
        "SELECT notification_id FROM relay_position WHERE name = %s", (topic,)
    ).fetchone()
    return int(row[0]) if row else 0


def projection_positions(conn: psycopg.Connection, topic: str) -> dict[str, dict[int, int]]:
    rows = conn.execute(
        "SELECT projection, partition, next_offset FROM projection_positions WHERE topic = %s",
        (topic,),
    ).fetchall()
    found: dict[str, dict[int, int]] = {}
    for projection, partition, next_offset in rows:
        found.setdefault(projection, {})[partition] = next_offset
    return found


def wait_caught_up(
    database_url: str,
    bootstrap: str,
    topic: str,
    auth: dict[str, Any],
    timeout: float,
    projections: Sequence[str] = PROJECTIONS,
) -> float:
    """Block until relay and projections are caught up; return that moment (perf_counter)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        last = last_notification_id(conn)
        while relay_position(conn, topic) < last:
            _check(deadline, f"the relay did not reach notification {last}")
            time.sleep(POLL_SECONDS)
        ends = end_offsets(bootstrap, topic, auth)
        while True:
            positions = projection_positions(conn, topic)
            behind = [
                name
                for name in projections
                if any(positions.get(name, {}).get(p, 0) < end for p, end in ends.items())
            ]
            if not behind:
                return time.perf_counter()
            _check(deadline, f"projections still behind the events topic: {', '.join(behind)}")
            time.sleep(POLL_SECONDS)


def _check(deadline: float, message: str) -> None:
    if time.monotonic() > deadline:
        raise NotCaughtUp(message)
