"""verify's limit check: recomputed from events, it names voluntary overdrafts."""

from __future__ import annotations

from typing import Any

from payments.contract.wire import event_message
from projections.rebuild.limits import LimitCheck
from tests.unit.test_ledger_examples import Books


def account_event(position: int, event_type: str, **payload: Any) -> dict[str, Any]:
    return {"position": position, "aggregate_type": "Account", "event_type": event_type,
            "payload": payload}  # fmt: skip


def posting(position: int, side: str, account_id: str, amount: int, reason: str,
            forced: bool) -> dict[str, Any]:  # fmt: skip
    return account_event(position, f"Account.{side}", account_id=account_id, amount=amount,
                         reason=reason, forced=forced)  # fmt: skip


def test_what_the_engine_stores_breaks_no_limit() -> None:
    books = Books()
    for account_id, kind in [("bank", "external"), ("alice", "customer"), ("shop", "merchant"),
                             ("fees", "fees")]:  # fmt: skip
        books.open(account_id, kind)
    books.ok("transfer", transfer_id="f", from_account="bank", to_account="alice",
             amount=5_000, currency="EUR")  # fmt: skip
    books.ok("authorize_payment", payment_id="p", payer_account="alice",
             merchant_account="shop", amount=1_000, currency="EUR")  # fmt: skip
    books.ok("capture_payment", payment_id="p")
    books.refused("insufficient_funds", "transfer", transfer_id="out", from_account="shop",
                  to_account="alice", amount=1_000, currency="EUR")  # fmt: skip
    books.ok("settle_merchant", batch_id="b", merchant_account="shop", payout_account="bank",
             fees_account="fees", fee_bps=250)  # fmt: skip
    notifications = books.app.recorder.select_notifications(start=1, limit=1_000)
    check = LimitCheck()
    check.apply([event_message(n, books.app.mapper) for n in notifications])
    assert check.accounts["shop"].posted == 0
    assert check.breaches == []


def test_the_bug_reports_store_is_named_twice() -> None:
    # An older engine: capture 1000, the merchant transfers it out, settlement pays again.
    events = [
        account_event(1, "Account.Opened", account_id="shop", kind="merchant", overdraft_limit=0),
        account_event(2, "Account.Opened", account_id="bank", kind="external", overdraft_limit=0),
        posting(3, "Credited", "shop", 1_000, "capture", False),
        posting(4, "Debited", "shop", 1_000, "transfer", False),
        posting(5, "Debited", "shop", 25, "settlement_fee", True),
        posting(6, "Debited", "shop", 975, "settlement_payout", True),
        posting(7, "Debited", "bank", 10**12, "transfer", False),  # external: no limit
    ]
    check = LimitCheck()
    check.apply(events)
    assert [(b.position, b.account_id, b.expected, b.actual) for b in check.breaches] == [
        (4, "shop", "≥ 0", -1_000),
        (6, "shop", "≥ 0", -1_000),
    ]
