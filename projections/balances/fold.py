"""Balances and payments folded from events: the pure rules, no I/O.

Rows are plain dicts keyed by business id (`account_id`, `payment_id`) with the
columns of the `balances` and `payments` tables. Each row remembers `last_version`,
the version of its aggregate last applied: events arrive per aggregate in version
order, so an event at or below it is a relay re-send and is skipped. The same
functions serve the Kafka consumers (rows loaded for one batch), replay (all rows in
memory) and verify (recompute, then compare).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

from projections.events import Event

Row = dict[str, Any]
log = structlog.get_logger(__name__)

BALANCE_COLUMNS = (
    "account_id",
    "aggregate_id",
    "kind",
    "currency",
    "posted",
    "held",
    "available",
    "overdraft_limit",
    "status",
    "opened_at",
    "updated_at",
    "last_version",
)
PAYMENT_COLUMNS = (
    "payment_id",
    "aggregate_id",
    "payer_account",
    "merchant_account",
    "currency",
    "authorized",
    "captured",
    "voided",
    "refunded",
    "charged_back",
    "status",
    "authorized_at",
    "updated_at",
    "last_version",
)

# (posted, held) deltas per unit of amount: the contract's posting rules.
_BALANCE_EFFECTS: dict[str, tuple[int, int]] = {
    "Account.Debited": (-1, 0),
    "Account.Credited": (1, 0),
    "Account.HoldPlaced": (0, 1),
    "Account.HoldReleased": (0, -1),
    "Account.HoldCaptured": (-1, -1),
}
_PAYMENT_AMOUNTS = {
    "Payment.Captured": "captured",
    "Payment.Voided": "voided",
    "Payment.Refunded": "refunded",
    "Payment.ChargedBack": "charged_back",
    "Payment.Expired": "voided",  # an expired hold is released as a void releases it
}
# Account events that move no money but are versions of the row (no gap after them).
_ACCOUNT_CONTROLS = ("Account.Frozen", "Account.Unfrozen", "Account.TierSet")

ACCOUNT_EVENTS = frozenset(
    {"Account.Opened", "Account.Closed", "Account.Settled", *_BALANCE_EFFECTS, *_ACCOUNT_CONTROLS}
)
PAYMENT_EVENTS = frozenset({"Payment.Authorized", *_PAYMENT_AMOUNTS})


def fold_balances(rows: dict[str, Row], events: Iterable[Event]) -> set[str]:
    """Apply Account events to `rows` in place; return the account ids changed."""
    changed: set[str] = set()
    for event in events:
        if event["event_type"] not in ACCOUNT_EVENTS:
            continue
        payload = event["payload"]
        account_id = payload["account_id"]
        row = rows.get(account_id)
        if not _is_next(row, event, account_id):
            continue
        if event["event_type"] == "Account.Opened":
            row = rows[account_id] = _opened(event)
        elif row is None:
            continue
        elif event["event_type"] == "Account.Closed":
            row["status"] = "closed"
        elif (effect := _BALANCE_EFFECTS.get(event["event_type"])) is not None:
            row["posted"] += effect[0] * payload["amount"]
            row["held"] += effect[1] * payload["amount"]
            row["available"] = row["posted"] - row["held"]
        # Account.Settled moves no money itself: its postings are Debited/Credited.
        row["last_version"] = event["aggregate_version"]
        row["updated_at"] = event["recorded_at"]
        changed.add(account_id)
    return changed


def fold_payments(rows: dict[str, Row], events: Iterable[Event]) -> set[str]:
    """Apply Payment events to `rows` in place; return the payment ids changed."""
    changed: set[str] = set()
    for event in events:
        if event["event_type"] not in PAYMENT_EVENTS:
            continue
        payload = event["payload"]
        payment_id = payload["payment_id"]
        row = rows.get(payment_id)
        if not _is_next(row, event, payment_id):
            continue
        if event["event_type"] == "Payment.Authorized":
            row = rows[payment_id] = _authorized(event)
        elif row is None:
            continue
        elif (column := _PAYMENT_AMOUNTS.get(event["event_type"])) is not None:
            row[column] += payload["amount"]
        row["status"] = payment_status(row)
        row["last_version"] = event["aggregate_version"]
        row["updated_at"] = event["recorded_at"]
        changed.add(payment_id)
    return changed


def payment_status(row: Row) -> str:
    """One word for where a payment stands, derived from its amounts."""
    if row["captured"] == 0:
        return "voided" if row["voided"] else "authorized"
    if row["charged_back"]:
        return "charged_back"
    if row["refunded"]:
        return "refunded" if row["refunded"] == row["captured"] else "partially_refunded"
    if row["authorized"] - row["captured"] - row["voided"] > 0:
        return "partially_captured"
    return "captured"


def _is_next(row: Row | None, event: Event, key: str) -> bool:
    version = event["aggregate_version"]
    last = row["last_version"] if row is not None else 0
    if version <= last:
        return False  # a relay re-send of something already applied
    if version != last + 1:
        # Not expected (per aggregate order is kept); apply anyway rather than stall.
        log.warning("projection.version_gap", key=key, last_version=last, version=version)
    if row is None and version != 1:
        log.warning("projection.missing_row", key=key, event_type=event["event_type"])
    return True


def _opened(event: Event) -> Row:
    payload = event["payload"]
    return {
        "account_id": payload["account_id"],
        "aggregate_id": event["aggregate_id"],
        "kind": payload["kind"],
        "currency": payload["currency"],
        "posted": 0,
        "held": 0,
        "available": 0,
        "overdraft_limit": payload["overdraft_limit"],
        "status": "open",
        "opened_at": event["recorded_at"],
        "updated_at": event["recorded_at"],
        "last_version": event["aggregate_version"],
    }


def _authorized(event: Event) -> Row:
    payload = event["payload"]
    return {
        "payment_id": payload["payment_id"],
        "aggregate_id": event["aggregate_id"],
        "payer_account": payload["payer_account"],
        "merchant_account": payload["merchant_account"],
        "currency": payload["currency"],
        "authorized": payload["amount"],
        "captured": 0,
        "voided": 0,
        "refunded": 0,
        "charged_back": 0,
        "status": "authorized",
        "authorized_at": event["recorded_at"],
        "updated_at": event["recorded_at"],
        "last_version": event["aggregate_version"],
    }
