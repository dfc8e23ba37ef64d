"""Worked examples: settlement batches and items, fees rounded half-up."""

from __future__ import annotations

from projections.rebuild.read_model import ReadModel
from projections.settlements.fold import SettlementState, plan_settlements
from tests.support.events import EventFactory, from_wire


def merchant_story() -> EventFactory:
    f = EventFactory()
    f.open_account("P", kind="external")
    f.open_account("M", kind="merchant")
    f.open_account("OUT", kind="external")
    f.open_account("FEES", kind="fees")
    f.authorize("pay-1", "P", "M", 1000)
    f.capture("pay-1", 1000)
    f.authorize("pay-2", "P", "M", 2345)
    f.capture("pay-2", 2345)
    f.refund("pay-1", 100)
    f.chargeback("pay-2", 45)
    return f


def test_settlement_with_half_up_fee():
    f = merchant_story()
    totals = f.settle("b-1", "M", "OUT", "FEES", fee_bps=250)
    # 3345 * 2.5% = 83.625 → 84 (half-up)
    assert totals == {
        "gross": 3345,
        "refunds": 100,
        "chargebacks": 45,
        "fees": 84,
        "net": 3345 - 100 - 45 - 84,
        "item_count": 4,
    }
    model = ReadModel()
    model.apply([from_wire(e) for e in f.events])
    state = model.settlements

    batch = state.batches["b-1"]
    assert {k: batch[k] for k in totals} == totals
    assert batch["merchant_account"] == "M" and batch["fee_bps"] == 250
    assert [(i["kind"], i["payment_id"], i["amount"]) for i in state.items] == [
        ("capture", "pay-1", 1000),
        ("capture", "pay-2", 2345),
        ("refund", "pay-1", 100),
        ("chargeback", "pay-2", 45),
    ]
    assert {i["batch_id"] for i in state.items} == {"b-1"}
    assert state.unsettled_rows() == []
    assert model.balances["M"]["posted"] == 0
    assert model.balances["FEES"]["posted"] == 84
    assert model.balances["OUT"]["posted"] == 3116
    assert model.posted_by_currency() == {"EUR": 0}


def test_items_after_a_settlement_wait_for_the_next():
    f = merchant_story()
    f.settle("b-1", "M", "OUT", "FEES", fee_bps=0)
    f.authorize("pay-3", "P", "M", 70)
    f.capture("pay-3", 70)
    state = SettlementState()
    state.apply([from_wire(e) for e in f.events])
    assert [(i["payment_id"], i["amount"]) for i in state.unsettled_rows()] == [("pay-3", 70)]
    assert len(state.items) == 4


def test_plans_over_many_small_batches_equal_one_big_fold():
    f = merchant_story()
    f.settle("b-1", "M", "OUT", "FEES", fee_bps=100)
    f.authorize("pay-3", "P", "M", 70)
    f.capture("pay-3", 70)
    f.settle("b-2", "M", "OUT", "FEES", fee_bps=100)
    f.authorize("pay-4", "P", "M", 5)
    f.capture("pay-4", 5)
    events = [from_wire(e) for e in f.events]
    whole = SettlementState()
    whole.apply(events)
    for size in (1, 2, 3, 7):
        pieces = SettlementState()
        for start in range(0, len(events), size):
            pieces.apply(events[start : start + size])
        assert sorted(pieces.items, key=lambda i: i["position"]) == sorted(
            whole.items, key=lambda i: i["position"]
        )
        assert pieces.unsettled_rows() == whole.unsettled_rows()
        assert pieces.batches == whole.batches


def test_a_resent_settled_event_does_not_sweep_newer_items():
    f = merchant_story()
    f.settle("b-1", "M", "OUT", "FEES", fee_bps=0)
    settled = next(e for e in f.events if e["event_type"] == "Account.Settled")
    f.authorize("pay-3", "P", "M", 70)
    f.capture("pay-3", 70)
    state = SettlementState()
    state.apply([from_wire(e) for e in f.events])
    state.apply([from_wire(settled)])  # the relay re-sends it at a later offset
    assert [(i["payment_id"], i["amount"]) for i in state.unsettled_rows()] == [("pay-3", 70)]
    assert len(state.items) == 4


def test_plan_moves_stored_items_before_adding_new_ones():
    f = merchant_story()
    events = [from_wire(e) for e in f.events]
    first = plan_settlements(events, {})
    f.settle("b-1", "M", "OUT", "FEES", fee_bps=0)
    f.authorize("pay-3", "P", "M", 70)
    f.capture("pay-3", 70)
    rest = [from_wire(e) for e in f.events[len(events) :]]
    plan = plan_settlements(rest, first.merchants)
    assert plan.settle_stored == [("M", "b-1")]
    assert plan.settled_items == []
    assert [(i["payment_id"], i["amount"]) for i in plan.unsettled_items] == [("pay-3", 70)]
