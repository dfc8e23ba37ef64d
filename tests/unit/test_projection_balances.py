"""Worked examples: balances and payments folded from the events the domain writes."""

from __future__ import annotations

import random

from projections.balances.fold import fold_balances, fold_payments
from projections.rebuild.read_model import ReadModel
from tests.support.events import EventFactory, from_wire


def fold(events):
    model = ReadModel()
    model.apply([from_wire(e) for e in events])
    return model


def test_a_transfer_moves_posted_money_and_sums_to_zero():
    f = EventFactory()
    f.open_account("A1", overdraft=1000)
    f.open_account("B1")
    f.transfer("t-1", "A1", "B1", 500)

    model = fold(f.events)

    a1, b1 = model.balances["A1"], model.balances["B1"]
    assert (a1["posted"], a1["held"], a1["available"]) == (-500, 0, -500)
    assert (b1["posted"], b1["held"], b1["available"]) == (500, 0, 500)
    assert a1["overdraft_limit"] == 1000 and a1["status"] == "open"
    assert a1["last_version"] == 2
    assert model.posted_by_currency() == {"EUR": 0}


def test_authorize_partial_capture_refund_chargeback_void():
    f = EventFactory()
    f.open_account("P", kind="external")
    f.open_account("M", kind="merchant")
    f.authorize("pay-1", "P", "M", 1000)
    f.capture("pay-1", 600)
    mid = fold(f.events)
    assert mid.payments["pay-1"]["status"] == "partially_captured"
    assert (mid.balances["P"]["posted"], mid.balances["P"]["held"]) == (-600, 400)
    assert mid.balances["P"]["available"] == -1000

    f.refund("pay-1", 100)
    f.chargeback("pay-1", 200)
    f.void("pay-1", 400)
    model = fold(f.events)

    payment = model.payments["pay-1"]
    assert {k: payment[k] for k in ("authorized", "captured", "voided", "refunded")} == {
        "authorized": 1000,
        "captured": 600,
        "voided": 400,
        "refunded": 100,
    }
    assert payment["charged_back"] == 200 and payment["status"] == "charged_back"
    assert (model.balances["P"]["posted"], model.balances["P"]["held"]) == (-300, 0)
    assert model.balances["M"]["posted"] == 300
    assert model.posted_by_currency() == {"EUR": 0}


def test_payment_status_follows_the_amounts():
    f = EventFactory()
    f.open_account("P", kind="external")
    f.open_account("M", kind="merchant")
    f.authorize("v", "P", "M", 100)
    f.void("v", 100)
    f.authorize("c", "P", "M", 100)
    f.capture("c", 100)
    f.authorize("r", "P", "M", 100)
    f.capture("r", 100)
    f.refund("r", 100)
    model = fold(f.events)
    assert model.payments["v"]["status"] == "voided"
    assert model.payments["c"]["status"] == "captured"
    assert model.payments["r"]["status"] == "refunded"


def test_closed_account_keeps_its_row():
    f = EventFactory()
    f.open_account("A1")
    f.close_account("A1")
    assert fold(f.events).balances["A1"]["status"] == "closed"


def test_resent_and_rewound_events_change_nothing():
    f = EventFactory()
    f.open_account("A1", overdraft=10_000)
    f.open_account("B1")
    for i in range(20):
        f.transfer(f"t-{i}", "A1", "B1", 10 + i)
    events = [from_wire(e) for e in f.events]
    once = fold(f.events)

    rows: dict = {}
    payments: dict = {}
    fold_balances(rows, events)
    # The relay re-sends a random tail, then everything again (a rewound consumer).
    resent = events[random.Random(7).randrange(len(events)) :] + events
    changed = fold_balances(rows, resent)
    fold_payments(payments, resent)
    assert changed == set()
    assert rows == once.balances


def test_unknown_event_types_are_ignored():
    f = EventFactory()
    f.open_account("A1")
    f.unknown_event("Account", "A1", "Renamed", account_id="A1", label="x")
    model = fold(f.events)
    assert model.balances["A1"]["last_version"] == 1
