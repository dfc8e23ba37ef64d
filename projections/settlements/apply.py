"""Apply a batch of events to the settlement tables.

`plan_settlements` decides (pure); this module runs the plan in SQL, in an order that
keeps it right: first move each settling merchant's stored unsettled items into their
batch, then insert the items the batch made (settled or not). Items and batches are
keyed by event position / batch id, so a re-run inserts nothing twice; merchants'
`last_version` keeps a re-sent `Account.Settled` from sweeping newer items.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from projections.events import Event
from projections.gaps import complete
from projections.headers import followed
from projections.settlements.fold import (
    BATCH_COLUMNS,
    ITEM_COLUMNS,
    MERCHANT_COLUMNS,
    SETTLEMENT_EVENTS,
    UNSETTLED_COLUMNS,
    item_kind,
    plan_settlements,
)
from projections.sqlrows import insert_rows, select_rows, upsert_rows

FOLLOWS = followed(SETTLEMENT_EVENTS)  # merchant accounts and settlement batches

_SETTLE_STORED = """
WITH moved AS (
    DELETE FROM merchant_unsettled WHERE account_id = %(account_id)s
    RETURNING position, account_id, payment_id, kind, amount
)
INSERT INTO settlement_items (position, batch_id, account_id, payment_id, kind, amount)
SELECT position, %(batch_id)s, account_id, payment_id, kind, amount FROM moved
ON CONFLICT DO NOTHING
"""


def apply_settlements(cur: psycopg.Cursor, events: Sequence[Event]) -> None:
    accounts = {
        e["payload"]["account_id"]
        for e in events
        if e["aggregate_type"] == "Account" and "account_id" in e["payload"]
    }
    merchants = select_rows(
        cur, "settlement_merchants", MERCHANT_COLUMNS, "account_id", accounts, lock=True
    )
    # A merchant event after a hole in its versions: read the hole from the store first.
    last = {str(row["aggregate_id"]): row["last_version"] for row in merchants.values()}
    events = complete(cur, events, last, relevant=_merchant_event)
    plan = plan_settlements(events, merchants)
    if plan.settle_stored:
        cur.executemany(
            _SETTLE_STORED,
            [{"account_id": a, "batch_id": b} for a, b in plan.settle_stored],
        )
    insert_rows(cur, "settlement_items", ITEM_COLUMNS, plan.settled_items)
    insert_rows(cur, "merchant_unsettled", UNSETTLED_COLUMNS, plan.unsettled_items)
    insert_rows(cur, "settlement_batches", BATCH_COLUMNS, plan.batches)
    upsert_rows(
        cur, "settlement_merchants", MERCHANT_COLUMNS, "account_id", plan.merchants.values()
    )


def _merchant_event(event: Event) -> bool:
    """The events whose versions `settlement_merchants.last_version` records."""
    return event["event_type"] == "Account.Settled" or item_kind(event) is not None
