"""Apply a batch of events to the `balances`, `payments` and dispute tables.

Loads (FOR UPDATE) only the rows the batch touches, folds the events with the pure
rules of `projections.balances`, and writes back the changed rows in one
statement. Re-sent events are skipped by each row's `last_version`; an event that
skips versions of its aggregate is preceded by the missing ones, read from the event
store (`projections.gaps`), so a late or lost record never leaves a balance wrong.
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
from projections.disputes.fold import (
    DISPUTE_COLUMNS,
    DISPUTE_EVENTS,
    TIMELINE_COLUMNS,
    fold_disputes,
)
from projections.events import Event
from projections.gaps import complete
from projections.headers import followed
from projections.sqlrows import insert_rows, select_rows, upsert_rows

_FOLDED = ACCOUNT_EVENTS | PAYMENT_EVENTS | DISPUTE_EVENTS
# Accounts, payments and disputes: every version of each (no version hole after a record
# passed over), nothing of the others (transfers, command records).
FOLLOWS = followed(_FOLDED)


def apply_balances(cur: psycopg.Cursor, events: Sequence[Event]) -> None:
    accounts = {e["payload"]["account_id"] for e in events if e["event_type"] in ACCOUNT_EVENTS}
    payments = {e["payload"]["payment_id"] for e in events if e["event_type"] in PAYMENT_EVENTS}
    balances = select_rows(cur, "balances", BALANCE_COLUMNS, "account_id", accounts, lock=True)
    payment_rows = select_rows(cur, "payments", PAYMENT_COLUMNS, "payment_id", payments, lock=True)
    disputes = {e["payload"]["dispute_id"] for e in events if e["event_type"] in DISPUTE_EVENTS}
    dispute_rows = select_rows(cur, "disputes", DISPUTE_COLUMNS, "dispute_id", disputes, lock=True)
    last = {
        str(row["aggregate_id"]): row["last_version"]
        for row in (*balances.values(), *payment_rows.values(), *dispute_rows.values())
    }
    # Missing versions come from the same aggregates, so the rows above cover them.
    events = complete(cur, events, last, relevant=lambda e: e["event_type"] in _FOLDED)
    if accounts:
        changed = fold_balances(balances, events)
        upsert_rows(cur, "balances", BALANCE_COLUMNS, "account_id", (balances[k] for k in changed))
    if payments:
        changed = fold_payments(payment_rows, events)
        upsert_rows(
            cur, "payments", PAYMENT_COLUMNS, "payment_id", (payment_rows[k] for k in changed)
        )
    if disputes:
        changed, timeline = fold_disputes(dispute_rows, events)
        upsert_rows(
            cur, "disputes", DISPUTE_COLUMNS, "dispute_id", (dispute_rows[k] for k in changed)
        )
        insert_rows(cur, "dispute_timeline", TIMELINE_COLUMNS, timeline)
