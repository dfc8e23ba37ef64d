# ruff: noqa: F811  (the fixtures are imported from test_ledger_examples)
"""Worked examples: merchant money is paid out once; chargebacks are facts; bounds.

Amounts in cents, fresh in-memory books each time (the `books` fixture checks that
Σ posted per currency is 0 at the end).
"""

from __future__ import annotations

from payments.domain.account import MAX_BALANCE
from payments.domain.ids import batch_id_to_uuid
from payments.domain.money import MAX_AMOUNT
from payments.domain.settlement import SettlementBatch
from tests.unit.test_ledger_examples import Books, books, pay, shop  # noqa: F401

SETTLE = {"merchant_account": "shop", "payout_account": "bank", "fees_account": "fees"}


def batch(books: Books, batch_id: str) -> tuple[int, int, int, int]:
    """(fees, net, deficit_carried_in, deficit_carried_out)"""
    found = books.app.repository.get(batch_id_to_uuid(batch_id))
    assert isinstance(found, SettlementBatch)
    f = found.figures
    return f.fees, f.net, f.deficit_carried_in, f.deficit_carried_out


def test_captured_money_cannot_leave_by_transfer_and_is_paid_out_once(shop: Books) -> None:
    # The bug report: capture 1000, the merchant (limit 0) transfers 1000, settle 250 bps.
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    outcome = shop.refused("insufficient_funds", "transfer", transfer_id="out",
                           from_account="shop", to_account="alice", amount=1_000,
                           currency="EUR")  # fmt: skip
    assert "1000 of it unsettled" in outcome.message
    shop.ok("settle_merchant", batch_id="b1", fee_bps=250, **SETTLE)
    assert shop.balance("shop") == (0, 0, 0)
    assert shop.balance("fees") == (25, 0, 25)
    assert shop.balance("bank") == (-10_000 + 975, 0, -10_000 + 975)
    assert batch(shop, "b1") == (25, 975, 0, 0)
    # Settled, the merchant's own money is free again: none is left, so still refused.
    shop.refused("insufficient_funds", "transfer", transfer_id="out2", from_account="shop",
                 to_account="alice", amount=1, currency="EUR")  # fmt: skip


def test_money_of_its_own_stays_free_to_move(shop: Books) -> None:
    shop.ok("transfer", transfer_id="top", from_account="bank", to_account="shop",
            amount=300, currency="EUR")  # fmt: skip
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("transfer", transfer_id="out", from_account="shop", to_account="alice",
            amount=300, currency="EUR")  # fmt: skip
    shop.refused("insufficient_funds", "transfer", transfer_id="out2", from_account="shop",
                 to_account="alice", amount=1, currency="EUR")  # fmt: skip


def test_a_refund_may_use_the_unsettled_capture_it_reverses(shop: Books) -> None:
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("refund_payment", payment_id="p1", amount=1_000)
    assert shop.balance("shop") == (0, 0, 0)


def test_an_overdraft_used_is_recovered_before_a_payout(books: Books) -> None:
    books.open("bank", "external")
    books.open("alice", "customer")
    books.open("shop", "merchant", overdraft=400)
    books.open("fees", "fees")
    books.ok("transfer", transfer_id="f", from_account="bank", to_account="alice",
             amount=10_000, currency="EUR")  # fmt: skip
    pay(books, "p1", 1_000)
    books.ok("capture_payment", payment_id="p1")
    books.ok(
        "transfer",
        transfer_id="out",
        from_account="shop",
        to_account="bank",
        amount=400,
        currency="EUR",
    )  # fmt: skip  (only the overdraft)
    books.ok("settle_merchant", batch_id="b1", fee_bps=0, **SETTLE)
    assert batch(books, "b1") == (0, 1_000, 400, 0)
    assert books.balance("shop") == (0, 0, 0)  # paid out 600, not 1000


def test_a_negative_net_is_carried_and_recovered_from_later_gross(shop: Books) -> None:
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("settle_merchant", batch_id="b1", fee_bps=0, **SETTLE)
    shop.ok("chargeback_payment", payment_id="p1", amount=1_000, reason="fraud")
    shop.ok("settle_merchant", batch_id="b2", fee_bps=100, **SETTLE)
    assert batch(shop, "b2") == (0, -1_000, 0, 1_000)
    assert shop.balance("shop") == (-1_000, 0, -1_000)
    pay(shop, "p2", 600)
    shop.ok("capture_payment", payment_id="p2")
    bank_before = shop.balance("bank")[0]
    shop.ok("settle_merchant", batch_id="b3", fee_bps=100, **SETTLE)
    assert batch(shop, "b3") == (6, 594, 1_000, 406)  # nothing paid out
    assert shop.balance("bank")[0] == bank_before
    pay(shop, "p3", 1_000)
    shop.ok("capture_payment", payment_id="p3")
    shop.ok("settle_merchant", batch_id="b4", fee_bps=100, **SETTLE)
    assert batch(shop, "b4") == (10, 990, 406, 0)
    assert shop.balance("bank")[0] == bank_before + 990 - 406  # the rest is paid out
    assert shop.balance("shop") == (0, 0, 0)


def test_a_chargeback_credits_a_closed_payer(shop: Books) -> None:
    shop.open("carol", "customer")
    shop.ok("transfer", transfer_id="fc", from_account="bank", to_account="carol",
            amount=500, currency="EUR")  # fmt: skip
    shop.ok("authorize_payment", payment_id="pc", payer_account="carol",
            merchant_account="shop", amount=500, currency="EUR")  # fmt: skip
    shop.ok("capture_payment", payment_id="pc")
    shop.ok("close_account", account_id="carol")
    shop.ok("chargeback_payment", payment_id="pc", amount=400, reason="fraud")
    assert shop.balance("carol") == (400, 0, 400)
    assert shop.account("carol").closed  # still closed; operations pay it out
    assert shop.balance("shop") == (100, 0, 100)
    # A refund is the merchant's choice, not a fact: a closed payer refuses it.
    shop.refused("account_closed", "refund_payment", payment_id="pc", amount=1)


def test_a_balance_is_bounded(books: Books) -> None:
    books.open("mint", "external")
    books.open("whale", "customer")
    for n in range(MAX_BALANCE // MAX_AMOUNT):
        books.ok("transfer", transfer_id=f"t{n}", from_account="mint", to_account="whale",
                 amount=MAX_AMOUNT, currency="EUR")  # fmt: skip
    assert books.balance("mint")[0] == -MAX_BALANCE
    books.refused("balance_limit_exceeded", "transfer", transfer_id="one-more",
                  from_account="mint", to_account="whale", amount=1, currency="EUR")  # fmt: skip
    books.ok("transfer", transfer_id="back", from_account="whale", to_account="mint",
             amount=1, currency="EUR")  # fmt: skip
