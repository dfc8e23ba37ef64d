"""Apply a batch of events to the `principals` and `api_keys` tables.

Loads (FOR UPDATE) the rows the batch's identity events touch, completes version
holes from the event store (`projections.gaps`: a principal created before this
topic began still gets its roles right), folds, and writes the changed rows back.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import psycopg

from projections.events import Event
from projections.gaps import complete
from projections.headers import followed
from projections.principals.fold import (
    API_KEY_COLUMNS,
    API_KEY_EVENTS,
    IDENTITY_EVENTS,
    PRINCIPAL_COLUMNS,
    PRINCIPAL_EVENTS,
    Row,
    fold_api_keys,
    fold_principals,
)
from projections.sqlrows import select_rows, upsert_rows

FOLLOWS = followed(IDENTITY_EVENTS)  # principals and API keys


def apply_principals(cur: psycopg.Cursor, events: Sequence[Event]) -> None:
    if not any(e["event_type"] in IDENTITY_EVENTS for e in events):
        return  # the common batch: postings and command records only
    principals = _rows(cur, "principals", PRINCIPAL_COLUMNS, events, PRINCIPAL_EVENTS)
    api_keys = _rows(cur, "api_keys", API_KEY_COLUMNS, events, API_KEY_EVENTS)
    last = {k: row["last_version"] for k, row in (*principals.items(), *api_keys.items())}
    events = complete(cur, events, last, relevant=lambda e: e["event_type"] in IDENTITY_EVENTS)
    changed = fold_principals(principals, events)
    upsert_rows(
        cur, "principals", PRINCIPAL_COLUMNS, "aggregate_id", (principals[k] for k in changed)
    )
    changed = fold_api_keys(api_keys, events)
    upsert_rows(cur, "api_keys", API_KEY_COLUMNS, "aggregate_id", (api_keys[k] for k in changed))


def _rows(
    cur: psycopg.Cursor,
    table: str,
    columns: Sequence[str],
    events: Sequence[Event],
    kinds: frozenset[str],
) -> dict[str, Row]:
    """The stored rows of the batch's aggregates of `kinds`, by aggregate id as text."""
    wanted = {UUID(e["aggregate_id"]) for e in events if e["event_type"] in kinds}
    found = select_rows(cur, table, columns, "aggregate_id", wanted, lock=True)
    return {str(k): row | {"aggregate_id": str(k)} for k, row in found.items()}
