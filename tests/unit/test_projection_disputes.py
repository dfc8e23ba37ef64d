"""The dispute tables and settlement items folded from the contract's worked examples.

The events are the ones the real ledger stores for docs/contract.md's scenario
(payments.tools.contract_docs.dispute_examples): dp-1 contested and won by two
people, dp-2 accepted, dp-3 expired; batch b-3 settles them.
"""

from __future__ import annotations

import json
from datetime import datetime

from payments.tools.contract_docs.examples import run_scenario
from projections.disputes.fold import fold_disputes
from projections.events import Event, parse_event
from projections.rebuild.read_model import ReadModel


def stored_events() -> list[Event]:
    """As a consumer reads them from the events topic."""
    return [parse_event(json.dumps(e)) for e in run_scenario().events]


def folded() -> ReadModel:
    model = ReadModel()
    model.apply(stored_events())
    return model


def test_each_dispute_row_has_its_outcome_cause_and_the_two_people() -> None:
    disputes = folded().disputes
    won, accepted, expired = disputes["dp-1"], disputes["dp-2"], disputes["dp-3"]
    assert (won["status"], won["cause"], won["evidence_count"]) == ("won", "approved", 1)
    assert (won["proposed_by"], won["decided_by"]) == ("ops@example", "reviewer@example")
    assert (won["amount"], won["fee"], won["payment_id"]) == (3000, 1500, "pay-2")
    assert won["evidence_due_by"] == datetime.fromisoformat("2099-01-01T00:00:00Z")
    assert (accepted["status"], accepted["cause"], accepted["proposed_by"]) == (
        "lost", "accepted", None,
    )  # fmt: skip
    assert (expired["status"], expired["cause"], expired["evidence_count"]) == (
        "lost", "expired", 0,
    )  # fmt: skip


def test_the_timeline_lists_every_step_with_its_actor_once() -> None:
    model = folded()
    steps = [
        (r["event_type"], r["actor"]) for r in model.dispute_timeline if r["dispute_id"] == "dp-1"
    ]
    assert steps == [
        ("Dispute.Opened", "ops@example"),
        ("Dispute.EvidenceSubmitted", "ops@example"),
        ("Dispute.ResolutionProposed", "ops@example"),
        ("Dispute.Won", "reviewer@example"),
    ]
    evidence = next(r for r in model.dispute_timeline if r["event_type"].endswith("Submitted"))
    assert evidence["detail"]["documents"] == "doc:receipt-881.pdf doc:tracking-3390.png"
    positions = [r["position"] for r in model.dispute_timeline]
    assert len(positions) == len(set(positions))


def test_a_re_sent_dispute_event_changes_nothing() -> None:
    events = stored_events()
    rows: dict = {}
    changed, timeline = fold_disputes(rows, events)
    before = {k: dict(v) for k, v in rows.items()}
    again, more = fold_disputes(rows, events)  # the relay sent everything twice
    assert changed == {"dp-1", "dp-2", "dp-3"} and len(timeline) == 4 + 2 + 2
    assert (again, more, rows) == (set(), [], before)


def test_the_batch_after_the_disputes_holds_them_as_items() -> None:
    state = folded().settlements
    batch = state.batches["b-3"]
    assert (batch["disputes"], batch["reinstatements"], batch["net"]) == (6000, 4500, 3375)
    kinds = sorted((i["kind"], i["amount"]) for i in state.items if i["batch_id"] == "b-3")
    assert kinds == [
        ("capture", 5000),
        ("dispute", 500),
        ("dispute", 1000),
        ("dispute", 3000),
        ("dispute_fee", 1500),
        ("dispute_fee_refund", 1500),
        ("dispute_reinstatement", 3000),
    ]
