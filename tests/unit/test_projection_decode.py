"""The fast decoder gives exactly the relay's dict (`payments.wire.event_message`).

Every event type the write side stores, from a real book of business decided by the
Ledger on the in-memory store (same mapper and transcoder as on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from payments.contract.wire import event_message
from payments.ledger.store import in_memory_application
from projections.decode import decode_stored
from projections.events import check_event
from tests.support.signing import signed_ledger


def command(n: int, type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": f"c{n}", "type": type_, "actor": "ops@example", "payload": payload}


def business() -> list[dict[str, Any]]:
    opened = [
        command(i, "open_account", account_id=name, currency="EUR", kind=kind)
        for i, (name, kind) in enumerate(
            [
                ("bank", "external"),
                ("alice", "customer"),
                ("shop", "merchant"),
                ("fees", "fees"),
                ("out", "external"),
            ]
        )
    ]
    return [
        *opened,
        command(
            10,
            "transfer",
            transfer_id="t1",
            from_account="bank",
            to_account="alice",
            amount=5_000,
            currency="EUR",
        ),
        command(
            11,
            "authorize_payment",
            payment_id="p1",
            payer_account="alice",
            merchant_account="shop",
            amount=3_000,
            currency="EUR",
        ),
        command(12, "capture_payment", payment_id="p1", amount=2_000),
        command(13, "refund_payment", payment_id="p1", amount=100),
        command(14, "chargeback_payment", payment_id="p1", amount=50, reason="fraud"),
        command(15, "void_payment", payment_id="p1"),
        command(
            16,
            "settle_merchant",
            batch_id="b1",
            merchant_account="shop",
            payout_account="out",
            fees_account="fees",
            fee_bps=250,
        ),
        command(17, "open_account", account_id="gone", currency="EUR", kind="customer"),
        command(18, "close_account", account_id="gone"),
        command(
            19,
            "transfer",
            transfer_id="t2",
            from_account="alice",
            to_account="bank",
            amount=10**9,
            currency="EUR",
        ),  # rejected: a CommandRecord with a code
    ]


def test_fast_decoding_equals_the_relay_message_for_every_event_type():
    app = in_memory_application()
    ledger = signed_ledger(app)
    for raw in business():
        ledger.decide(raw)
    notifications = app.recorder.select_notifications(start=1, limit=1000)
    seen_types = set()

    def refuse(*_args: object) -> dict:
        raise AssertionError("the fast path should handle every stored event")

    for n in notifications:
        fast = decode_stored(
            n.id, n.originator_id, n.originator_version, n.topic, n.state, fallback=refuse
        )
        assert fast == check_event(event_message(n, app.mapper))
        seen_types.add(fast["event_type"])
    assert {
        "Account.Opened",
        "Account.Closed",
        "Account.Debited",
        "Account.Credited",
        "Account.HoldPlaced",
        "Account.HoldReleased",
        "Account.HoldCaptured",
        "Account.Settled",
        "Payment.Authorized",
        "Payment.Captured",
        "Payment.Voided",
        "Payment.Refunded",
        "Payment.ChargedBack",
        "Transfer.Recorded",
        "SettlementBatch.Created",
        "CommandRecord.Decided",
    } <= seen_types


def test_rows_the_fast_path_cannot_read_go_to_the_fallback():
    calls = []

    def fallback(*args: object) -> dict:
        calls.append(args)
        return {"fallback": True}

    assert decode_stored(1, "0" * 32, 1, "m:A.B", b"\x00compressed", fallback) == {"fallback": True}
    transcoded = b'{"timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-28T10:00:00+00:00"},'
    transcoded += b' "ref": {"_type_": "uuid_hex", "_data_": "00"}}'
    assert decode_stored(2, "0" * 32, 1, "m:A.B", transcoded, fallback) == {"fallback": True}
    assert len(calls) == 2
