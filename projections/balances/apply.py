"""Apply a batch of events to the `balances` and `payments` tables.

Loads (FOR UPDATE) only the rows the batch touches, folds the events with the pure
rules of `projections.balances`, and writes back the changed rows in one
statement. Re-sent events are skipped by each row's `last_version`.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from projections.balances.fold import (
    ACCOUNT_EVENTS,
    BALANCE_COLUMNS,
    PAYMENT_COLUMNS,
    PAYMENT_EVENTS,
    fold_balances,
    fold_payments,
)
from projections.events import Event
from projections.sqlrows import select_rows, upsert_rows


def apply_balances(cur: psycopg.Cursor, events: Sequence[Event]) -> None:
    accounts = {e["payload"]["account_id"] for e in events if e["event_type"] in ACCOUNT_EVENTS}
    if accounts:
        rows = select_rows(cur, "balances", BALANCE_COLUMNS, "account_id", accounts, lock=True)
        changed = fold_balances(rows, events)
        upsert_rows(cur, "balances", BALANCE_COLUMNS, "account_id", (rows[k] for k in changed))
    payments = {e["payload"]["payment_id"] for e in events if e["event_type"] in PAYMENT_EVENTS}
    if payments:
        rows = select_rows(cur, "payments", PAYMENT_COLUMNS, "payment_id", payments, lock=True)
        changed = fold_payments(rows, events)
        upsert_rows(cur, "payments", PAYMENT_COLUMNS, "payment_id", (rows[k] for k in changed))
