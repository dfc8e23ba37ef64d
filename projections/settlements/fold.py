"""Settlement batches and their items folded from events: the pure rules, no I/O.

Items come from the merchant account's own events, exactly as the write side keeps
them: a `capture` credit, a `refund` debit, a `chargeback` debit, a dispute's
withdrawal (`dispute`, `dispute_fee` debits) and reinstatement
(`dispute_reinstatement`, `dispute_fee_refund` credits) are unsettled items of the
merchant until its next `Account.Settled`, which moves all of them into that batch.
A batch's totals come from `SettlementBatch.Created`.

Because a hot merchant may hold many unsettled items, a consumer batch does not load
them: `plan_settlements` turns events into a `SettlementPlan` of inserts and moves,
which `apply_settlements` runs in SQL and `SettlementState` runs in memory (replay,
verify). `last_version` per merchant account skips relay re-sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from projections.events import Event

Row = dict[str, Any]

ITEM_COLUMNS = ("batch_id", "account_id", "payment_id", "kind", "amount", "position")
UNSETTLED_COLUMNS = ("account_id", "payment_id", "kind", "amount", "position")
MERCHANT_COLUMNS = ("account_id", "aggregate_id", "last_version")
BATCH_COLUMNS = (
    "batch_id",
    "aggregate_id",
    "merchant_account",
    "payout_account",
    "fees_account",
    "currency",
    "fee_bps",
    "gross",
    "refunds",
    "chargebacks",
    "fees",
    "net",
    "item_count",
    "deficit_carried_in",
    "deficit_carried_out",
    "disputes",
    "reinstatements",
    "settled_at",
    "last_version",
)

# (event type, posting reason) → item kind.
_ITEM_KINDS = {
    ("Account.Credited", "capture"): "capture",
    ("Account.Debited", "refund"): "refund",
    ("Account.Debited", "chargeback"): "chargeback",
    ("Account.Debited", "dispute"): "dispute",
    ("Account.Debited", "dispute_fee"): "dispute_fee",
    ("Account.Credited", "dispute_reinstatement"): "dispute_reinstatement",
    ("Account.Credited", "dispute_fee_refund"): "dispute_fee_refund",
}
ITEM_KINDS = tuple(sorted(set(_ITEM_KINDS.values())))
# What plan_settlements reads.
SETTLEMENT_EVENTS = frozenset(
    {"SettlementBatch.Created", "Account.Settled", *(kind for kind, _ in _ITEM_KINDS)}
)


def item_kind(event: Event) -> str | None:
    """The settlement item an Account event makes, if any."""
    return _ITEM_KINDS.get((event["event_type"], event["payload"].get("reason")))


@dataclass
class SettlementPlan:
    """What one batch of events does to the settlement tables, in this order."""

    # Merchant accounts whose last_version moved (rows of settlement_merchants).
    merchants: dict[str, Row] = field(default_factory=dict)
    # (account_id, batch_id): move the account's already stored unsettled items.
    settle_stored: list[tuple[str, str]] = field(default_factory=list)
    # Items made and settled within this batch of events (rows of settlement_items).
    settled_items: list[Row] = field(default_factory=list)
    # Items still unsettled at the end of this batch (rows of merchant_unsettled).
    unsettled_items: list[Row] = field(default_factory=list)
    batches: list[Row] = field(default_factory=list)


def plan_settlements(events: Iterable[Event], merchants: dict[str, Row]) -> SettlementPlan:
    """Plan the effect of `events` given the merchants' stored `last_version`s.

    `merchants` holds the stored rows of the accounts these events touch (missing
    means none applied yet); it is not modified.
    """
    plan = SettlementPlan()
    pending: dict[str, list[Row]] = {}
    settled_stored: set[str] = set()
    for event in events:
        event_type = event["event_type"]
        if event_type == "SettlementBatch.Created":
            plan.batches.append(batch_row(event))
            continue
        if event["aggregate_type"] != "Account":
            continue
        kind = item_kind(event)
        if kind is None and event_type != "Account.Settled":
            continue
        payload = event["payload"]
        account_id = payload["account_id"]
        known = plan.merchants.get(account_id) or merchants.get(account_id)
        if known is not None and event["aggregate_version"] <= known["last_version"]:
            continue  # a relay re-send
        plan.merchants[account_id] = {
            "account_id": account_id,
            "aggregate_id": event["aggregate_id"],
            "last_version": event["aggregate_version"],
        }
        if kind is not None:
            pending.setdefault(account_id, []).append(
                {
                    "account_id": account_id,
                    "payment_id": payload["reference"],
                    "kind": kind,
                    "amount": payload["amount"],
                    "position": event["position"],
                }
            )
            continue
        batch_id = payload["batch_id"]
        if account_id not in settled_stored:
            settled_stored.add(account_id)
            plan.settle_stored.append((account_id, batch_id))
        for item in pending.pop(account_id, []):
            plan.settled_items.append({"batch_id": batch_id, **item})
    for items in pending.values():
        plan.unsettled_items.extend(items)
    return plan


def batch_row(event: Event) -> Row:
    payload = event["payload"]
    row = {name: payload[name] for name in BATCH_COLUMNS if name in payload}
    # Batches stored before deficits were carried (or disputes settled) have none.
    for name in ("deficit_carried_in", "deficit_carried_out", "disputes", "reinstatements"):
        row.setdefault(name, 0)
    row["aggregate_id"] = event["aggregate_id"]
    row["settled_at"] = event["recorded_at"]
    row["last_version"] = event["aggregate_version"]
    return row


@dataclass
class SettlementState:
    """All settlement rows in memory: what replay writes and verify compares."""

    merchants: dict[str, Row] = field(default_factory=dict)
    unsettled: dict[str, list[Row]] = field(default_factory=dict)
    items: list[Row] = field(default_factory=list)
    batches: dict[str, Row] = field(default_factory=dict)

    def apply(self, events: Iterable[Event]) -> None:
        plan = plan_settlements(events, self.merchants)
        self.merchants.update(plan.merchants)
        for account_id, batch_id in plan.settle_stored:
            for item in self.unsettled.pop(account_id, []):
                self.items.append({"batch_id": batch_id, **item})
        self.items.extend(plan.settled_items)
        for item in plan.unsettled_items:
            self.unsettled.setdefault(item["account_id"], []).append(item)
        for batch in plan.batches:
            self.batches.setdefault(batch["batch_id"], batch)

    def unsettled_rows(self) -> list[Row]:
        return [item for items in self.unsettled.values() for item in items]
