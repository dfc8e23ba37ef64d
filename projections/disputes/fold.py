"""Disputes folded from events: their current state and their timeline (pure, no I/O).

One row per dispute in `disputes` (the admin API's list and detail) and one row per
dispute event in `dispute_timeline`, keyed by the event's position, so a re-sent
event inserts nothing twice. The rows are kept by the balances projection (same
consumer, same transaction as the payments they belong to); replay and verify fold
them with these same functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from projections.events import Event

Row = dict[str, Any]

DISPUTE_COLUMNS = (
    "dispute_id",
    "aggregate_id",
    "payment_id",
    "merchant_account",
    "payer_account",
    "currency",
    "amount",
    "fee",
    "reason_code",
    "network",
    "status",
    "evidence_due_by",
    "evidence_count",
    "proposed_outcome",
    "proposed_by",
    "decided_by",
    "cause",
    "opened_at",
    "updated_at",
    "last_version",
)
TIMELINE_COLUMNS = ("position", "dispute_id", "event_type", "actor", "recorded_at", "detail")

DISPUTE_EVENTS = frozenset(
    {
        "Dispute.Opened",
        "Dispute.EvidenceSubmitted",
        "Dispute.ResolutionProposed",
        "Dispute.Won",
        "Dispute.Lost",
    }
)


def fold_disputes(rows: dict[str, Row], events: Iterable[Event]) -> tuple[set[str], list[Row]]:
    """Apply Dispute events to `rows` in place: (the dispute ids changed, timeline rows)."""
    changed: set[str] = set()
    timeline: list[Row] = []
    for event in events:
        event_type = event["event_type"]
        if event_type not in DISPUTE_EVENTS:
            continue
        payload = event["payload"]
        dispute_id = payload["dispute_id"]
        row = rows.get(dispute_id)
        if row is not None and event["aggregate_version"] <= row["last_version"]:
            continue  # a relay re-send
        if event_type == "Dispute.Opened":
            row = rows[dispute_id] = _opened(event)
        elif row is None:
            continue  # its Opened is missing: projections.gaps reads it from the store first
        elif event_type == "Dispute.EvidenceSubmitted":
            row["status"] = "under_review"
            row["evidence_count"] += 1
        elif event_type == "Dispute.ResolutionProposed":
            row["proposed_outcome"] = payload["outcome"]
            row["proposed_by"] = event["actor"]
        else:
            row["status"] = "won" if event_type == "Dispute.Won" else "lost"
            row["decided_by"] = event["actor"]
            row["cause"] = payload["cause"]
        row["last_version"] = event["aggregate_version"]
        row["updated_at"] = event["recorded_at"]
        changed.add(dispute_id)
        timeline.append(_step(event))
    return changed, timeline


def _opened(event: Event) -> Row:
    payload = event["payload"]
    return {
        "dispute_id": payload["dispute_id"],
        "aggregate_id": event["aggregate_id"],
        "payment_id": payload["payment_id"],
        "merchant_account": payload["merchant_account"],
        "payer_account": payload["payer_account"],
        "currency": payload["currency"],
        "amount": payload["amount"],
        "fee": payload["fee"],
        "reason_code": payload["reason_code"],
        "network": payload["network"],
        "status": "needs_response",
        "evidence_due_by": datetime.fromisoformat(payload["evidence_due_by"]),
        "evidence_count": 0,
        "proposed_outcome": None,
        "proposed_by": None,
        "decided_by": None,
        "cause": None,
        "opened_at": event["recorded_at"],
        "updated_at": event["recorded_at"],
        "last_version": event["aggregate_version"],
    }


def _step(event: Event) -> Row:
    """One timeline row: who did what, with the event's own fields (the evidence text)."""
    detail = {k: v for k, v in event["payload"].items() if k != "dispute_id"}
    return {
        "position": event["position"],
        "dispute_id": event["payload"]["dispute_id"],
        "event_type": event["event_type"],
        "actor": event["actor"],
        "recorded_at": event["recorded_at"],
        "detail": detail,
    }
