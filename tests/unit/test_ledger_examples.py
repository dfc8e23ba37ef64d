"""Worked accounting examples: every command and every rejection code.

Amounts are in cents. Each example starts from fresh books (in-memory store) and,
whatever happens, the books must balance: Σ posted per currency is 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from payments.domain.account import Account
from payments.domain.ids import account_id_to_uuid, batch_id_to_uuid
from payments.domain.settlement import SettlementBatch
from payments.ledger.service import Outcome
from payments.ledger.store import in_memory_application
from tests.support.signing import signed_ledger


class Books:
    def __init__(self) -> None:
        self.app = in_memory_application()
        self.ledger = signed_ledger(self.app)
        self.sent = 0
        self.opened: list[str] = []

    def send(self, type_: str, **payload: Any) -> Outcome:
        self.sent += 1
        raw = {
            "command_id": f"c{self.sent}",
            "type": type_,
            "actor": "ops@example",
            "payload": payload,
        }
        return self.ledger.decide(raw)

    def ok(self, type_: str, **payload: Any) -> Outcome:
        outcome = self.send(type_, **payload)
        assert (outcome.status, outcome.code) == ("accepted", None), outcome
        return outcome

    def refused(self, code: str, type_: str, **payload: Any) -> Outcome:
        outcome = self.send(type_, **payload)
        assert (outcome.status, outcome.code) == ("rejected", code), outcome
        assert outcome.message
        return outcome

    def open(self, account_id: str, kind: str, currency: str = "EUR", overdraft: int = 0) -> None:
        self.ok(
            "open_account",
            account_id=account_id,
            currency=currency,
            kind=kind,
            overdraft_limit=overdraft,
        )
        self.opened.append(account_id)

    def account(self, account_id: str) -> Account:
        account = self.app.repository.get(account_id_to_uuid(account_id))
        assert isinstance(account, Account)
        return account

    def balance(self, account_id: str) -> tuple[int, int, int]:
        """(posted, held, available)"""
        account = self.account(account_id)
        return account.posted, account.held, account.available

    def sum_posted(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for account_id in self.opened:
            account = self.account(account_id)
            totals[account.currency] += account.posted
        return dict(totals)


@pytest.fixture
def books() -> Iterator[Books]:
    books = Books()
    yield books
    assert all(total == 0 for total in books.sum_posted().values()), books.sum_posted()


@pytest.fixture
def shop(books: Books) -> Books:
    """A bank (external), Alice with 100.00, a shop, and the platform's fees account."""
    books.open("bank", "external")
    books.open("alice", "customer")
    books.open("shop", "merchant")
    books.open("fees", "fees")
    books.ok("transfer", transfer_id="fund-alice", from_account="bank", to_account="alice",
             amount=10_000, currency="EUR")  # fmt: skip
    return books


def pay(books: Books, payment_id: str, amount: int) -> None:
    books.ok("authorize_payment", payment_id=payment_id, payer_account="alice",
             merchant_account="shop", amount=amount, currency="EUR")  # fmt: skip


# --- accounts -------------------------------------------------------------------------


def test_a_new_account_starts_at_zero(books: Books) -> None:
    books.open("alice", "customer", overdraft=500)
    assert books.balance("alice") == (0, 0, 0)
    assert books.account("alice").overdraft_limit == 500


def test_an_account_id_is_used_once(books: Books) -> None:
    books.open("alice", "customer")
    books.refused("account_exists", "open_account", account_id="alice", currency="USD", kind="fees")


def test_closing_needs_posted_and_held_at_zero(shop: Books) -> None:
    shop.refused("account_not_empty", "close_account", account_id="alice")
    shop.ok("transfer", transfer_id="t", from_account="alice", to_account="bank", amount=10_000,
            currency="EUR")  # fmt: skip
    shop.ok("close_account", account_id="alice")
    assert shop.account("alice").closed


def test_held_money_keeps_an_account_open(books: Books) -> None:
    books.open("bank", "external")
    books.open("shop", "merchant")
    books.open("bob", "customer", overdraft=1_000)
    books.ok("authorize_payment", payment_id="p", payer_account="bob", merchant_account="shop",
             amount=300, currency="EUR")  # fmt: skip
    assert books.balance("bob") == (0, 300, -300)
    books.refused("account_not_empty", "close_account", account_id="bob")


def test_a_closed_account_refuses_everything_after(shop: Books) -> None:
    shop.open("carol", "customer")
    shop.ok("close_account", account_id="carol")
    shop.refused("account_closed", "close_account", account_id="carol")
    shop.refused("account_closed", "transfer", transfer_id="t", from_account="bank",
                 to_account="carol", amount=1, currency="EUR")  # fmt: skip


def test_unknown_accounts_are_not_found(shop: Books) -> None:
    shop.refused("account_not_found", "close_account", account_id="nobody")
    shop.refused("account_not_found", "transfer", transfer_id="t", from_account="alice",
                 to_account="nobody", amount=1, currency="EUR")  # fmt: skip


# --- transfers ------------------------------------------------------------------------


def test_a_transfer_debits_one_account_and_credits_the_other(shop: Books) -> None:
    shop.open("bob", "customer")
    shop.ok("transfer", transfer_id="rent", from_account="alice", to_account="bob",
            amount=2_550, currency="EUR")  # fmt: skip
    assert shop.balance("alice") == (7_450, 0, 7_450)
    assert shop.balance("bob") == (2_550, 0, 2_550)
    assert shop.balance("bank") == (-10_000, 0, -10_000)  # external: the money came from outside


def test_a_transfer_may_use_the_overdraft_exactly_to_its_limit(books: Books) -> None:
    books.open("bank", "external")
    books.open("dave", "customer", overdraft=5_000)
    books.ok("transfer", transfer_id="t1", from_account="dave", to_account="bank", amount=5_000,
             currency="EUR")  # fmt: skip
    assert books.balance("dave") == (-5_000, 0, -5_000)
    books.refused("insufficient_funds", "transfer", transfer_id="t2", from_account="dave",
                  to_account="bank", amount=1, currency="EUR")  # fmt: skip


def test_external_accounts_have_no_limit(books: Books) -> None:
    books.open("bank", "external")
    books.open("alice", "customer")
    books.ok("transfer", transfer_id="t", from_account="bank", to_account="alice",
             amount=10**12, currency="EUR")  # fmt: skip
    assert books.balance("bank")[0] == -(10**12)


def test_transfer_rules(shop: Books) -> None:
    shop.open("yen", "customer", currency="JPY")
    shop.refused("transfer_exists", "transfer", transfer_id="fund-alice", from_account="bank",
                 to_account="alice", amount=1, currency="EUR")  # fmt: skip
    shop.refused("same_account", "transfer", transfer_id="t1", from_account="alice",
                 to_account="alice", amount=1, currency="EUR")  # fmt: skip
    shop.refused("currency_mismatch", "transfer", transfer_id="t2", from_account="alice",
                 to_account="yen", amount=1, currency="EUR")  # fmt: skip
    shop.refused("insufficient_funds", "transfer", transfer_id="t3", from_account="alice",
                 to_account="bank", amount=10_001, currency="EUR")  # fmt: skip
    shop.refused("invalid_amount", "transfer", transfer_id="t4", from_account="alice",
                 to_account="bank", amount=10.5, currency="EUR")  # fmt: skip
    shop.refused("invalid_currency", "transfer", transfer_id="t5", from_account="alice",
                 to_account="bank", amount=1, currency="XEU")  # fmt: skip
    assert shop.balance("alice") == (10_000, 0, 10_000)  # nothing of the refused moved


def test_a_refused_transfer_id_can_be_used_later(shop: Books) -> None:
    shop.refused("insufficient_funds", "transfer", transfer_id="later", from_account="alice",
                 to_account="bank", amount=20_000, currency="EUR")  # fmt: skip
    shop.ok("transfer", transfer_id="later", from_account="alice", to_account="bank",
            amount=2_000, currency="EUR")  # fmt: skip


# --- payments -------------------------------------------------------------------------


def test_authorize_capture_in_parts(shop: Books) -> None:
    pay(shop, "p1", 3_000)
    assert shop.balance("alice") == (10_000, 3_000, 7_000)
    shop.ok("capture_payment", payment_id="p1", amount=1_000)
    assert shop.balance("alice") == (9_000, 2_000, 7_000)
    assert shop.balance("shop") == (1_000, 0, 1_000)
    shop.ok("capture_payment", payment_id="p1")  # all that remains
    assert shop.balance("alice") == (7_000, 0, 7_000)
    assert shop.balance("shop") == (3_000, 0, 3_000)
    shop.refused("invalid_payment_state", "capture_payment", payment_id="p1")
    shop.refused("amount_exceeds_authorized", "capture_payment", payment_id="p1", amount=1)


def test_capture_cannot_exceed_what_remains(shop: Books) -> None:
    pay(shop, "p1", 3_000)
    shop.refused("amount_exceeds_authorized", "capture_payment", payment_id="p1", amount=3_001)


def test_a_hold_counts_against_available(shop: Books) -> None:
    pay(shop, "p1", 8_000)
    shop.refused("insufficient_funds", "authorize_payment", payment_id="p2", payer_account="alice",
                 merchant_account="shop", amount=2_001, currency="EUR")  # fmt: skip
    shop.refused("insufficient_funds", "transfer", transfer_id="t", from_account="alice",
                 to_account="bank", amount=2_001, currency="EUR")  # fmt: skip


def test_void_releases_what_remains_and_ends_the_authorization(shop: Books) -> None:
    pay(shop, "p1", 3_000)
    shop.ok("capture_payment", payment_id="p1", amount=1_000)
    shop.ok("void_payment", payment_id="p1")
    assert shop.balance("alice") == (9_000, 0, 9_000)
    shop.refused("invalid_payment_state", "capture_payment", payment_id="p1", amount=1)
    shop.refused("invalid_payment_state", "void_payment", payment_id="p1")


def test_a_fully_captured_payment_cannot_be_voided(shop: Books) -> None:
    pay(shop, "p1", 500)
    shop.ok("capture_payment", payment_id="p1")
    shop.refused("invalid_payment_state", "void_payment", payment_id="p1")


def test_authorize_rules(shop: Books) -> None:
    shop.open("other-shop", "merchant")
    shop.open("dollar-shop", "merchant", currency="USD")
    pay(shop, "p1", 100)
    shop.refused("payment_exists", "authorize_payment", payment_id="p1", payer_account="alice",
                 merchant_account="shop", amount=100, currency="EUR")  # fmt: skip
    shop.refused("same_account", "authorize_payment", payment_id="p2", payer_account="shop",
                 merchant_account="shop", amount=100, currency="EUR")  # fmt: skip
    shop.refused("invalid_account_kind", "authorize_payment", payment_id="p3",
                 payer_account="other-shop", merchant_account="shop", amount=1,
                 currency="EUR")  # fmt: skip
    shop.refused("invalid_account_kind", "authorize_payment", payment_id="p4",
                 payer_account="alice", merchant_account="fees", amount=1,
                 currency="EUR")  # fmt: skip
    shop.refused("currency_mismatch", "authorize_payment", payment_id="p5",
                 payer_account="alice", merchant_account="dollar-shop", amount=1,
                 currency="EUR")  # fmt: skip
    shop.refused("account_not_found", "authorize_payment", payment_id="p6",
                 payer_account="ghost", merchant_account="shop", amount=1,
                 currency="EUR")  # fmt: skip
    # An external payer (e.g. a card network) may pay without limit.
    shop.ok("authorize_payment", payment_id="p7", payer_account="bank", merchant_account="shop",
            amount=10**12, currency="EUR")  # fmt: skip


def test_unknown_payments_are_not_found(shop: Books) -> None:
    for type_, extra in [
        ("capture_payment", {}),
        ("void_payment", {}),
        ("refund_payment", {"amount": 1}),
        ("chargeback_payment", {"amount": 1, "reason": "fraud"}),
    ]:
        shop.refused("payment_not_found", type_, payment_id="nope", **extra)


def test_refund_moves_money_back_up_to_what_was_captured(shop: Books) -> None:
    pay(shop, "p1", 3_000)
    shop.ok("capture_payment", payment_id="p1", amount=2_000)
    shop.ok("refund_payment", payment_id="p1", amount=500)
    assert shop.balance("alice") == (8_500, 1_000, 7_500)
    assert shop.balance("shop") == (1_500, 0, 1_500)
    shop.refused("amount_exceeds_captured", "refund_payment", payment_id="p1", amount=1_501)
    shop.ok("refund_payment", payment_id="p1", amount=1_500)
    shop.refused("amount_exceeds_captured", "refund_payment", payment_id="p1", amount=1)


def test_refund_is_voluntary_so_the_merchant_needs_funds(shop: Books) -> None:
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("settle_merchant", batch_id="b1", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=0)  # fmt: skip
    assert shop.balance("shop") == (0, 0, 0)
    shop.refused("insufficient_funds", "refund_payment", payment_id="p1", amount=1)


def test_chargeback_is_forced_below_the_merchants_limit(shop: Books) -> None:
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("settle_merchant", batch_id="b1", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=0)  # fmt: skip
    shop.ok("chargeback_payment", payment_id="p1", amount=600, reason="fraud")
    assert shop.balance("shop") == (-600, 0, -600)
    assert shop.balance("alice") == (9_600, 0, 9_600)
    shop.refused("amount_exceeds_captured", "chargeback_payment", payment_id="p1", amount=401,
                 reason="fraud")  # fmt: skip


def test_refunds_and_chargebacks_share_the_captured_amount(shop: Books) -> None:
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("chargeback_payment", payment_id="p1", amount=700, reason="not received")
    shop.refused("amount_exceeds_captured", "refund_payment", payment_id="p1", amount=301)
    shop.ok("refund_payment", payment_id="p1", amount=300)


def test_a_closed_merchant_refuses_refunds(shop: Books) -> None:
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("settle_merchant", batch_id="b1", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=0)  # fmt: skip
    shop.ok("close_account", account_id="shop")
    shop.refused("account_closed", "chargeback_payment", payment_id="p1", amount=1, reason="x")


# --- settlement -----------------------------------------------------------------------


def test_settlement_worked_example_with_half_up_fees(shop: Books) -> None:
    # Captures 12.50 + 37.50 = 50.00, a refund of 5.00, a chargeback of 2.00.
    pay(shop, "p1", 1_250)
    pay(shop, "p2", 3_750)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("capture_payment", payment_id="p2")
    shop.ok("refund_payment", payment_id="p2", amount=500)
    shop.ok("chargeback_payment", payment_id="p1", amount=200, reason="fraud")
    # fees = (5000 × 25 + 5000) div 10000 = 13 (12.5 rounds half up)
    shop.ok("settle_merchant", batch_id="b1", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=25)  # fmt: skip
    assert shop.balance("fees") == (13, 0, 13)
    net = 5_000 - 500 - 200 - 13
    assert shop.balance("shop") == (0, 0, 0)
    assert shop.balance("bank") == (-10_000 + net, 0, -10_000 + net)
    batch = shop.app.repository.get(batch_id_to_uuid("b1"))
    assert isinstance(batch, SettlementBatch)
    figures = batch.figures
    assert (figures.gross, figures.refunds, figures.chargebacks, figures.fees, figures.net,
            figures.item_count) == (5_000, 500, 200, 13, net, 4)  # fmt: skip


def test_settlement_takes_only_items_since_the_last_batch(shop: Books) -> None:
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1", amount=400)
    shop.ok("settle_merchant", batch_id="b1", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=100)  # fmt: skip
    shop.refused("nothing_to_settle", "settle_merchant", batch_id="b2", merchant_account="shop",
                 payout_account="bank", fees_account="fees", fee_bps=100)  # fmt: skip
    shop.ok("capture_payment", payment_id="p1", amount=600)
    shop.ok("settle_merchant", batch_id="b3", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=100)  # fmt: skip
    assert shop.balance("fees") == (4 + 6, 0, 10)


def test_a_negative_net_posts_only_the_fee(shop: Books) -> None:
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.ok("settle_merchant", batch_id="b1", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=0)  # fmt: skip
    shop.ok("chargeback_payment", payment_id="p1", amount=1_000, reason="fraud")
    shop.ok("settle_merchant", batch_id="b2", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=500)  # fmt: skip
    assert shop.balance("shop") == (-1_000, 0, -1_000)  # gross 0: no fee, no payout


def test_settlement_rules(shop: Books) -> None:
    shop.open("usd-bank", "external", currency="USD")
    pay(shop, "p1", 1_000)
    shop.ok("capture_payment", payment_id="p1")
    shop.refused("invalid_account_kind", "settle_merchant", batch_id="b1", merchant_account="shop",
                 payout_account="alice", fees_account="fees", fee_bps=0)  # fmt: skip
    shop.refused("invalid_account_kind", "settle_merchant", batch_id="b1", merchant_account="shop",
                 payout_account="bank", fees_account="bank", fee_bps=0)  # fmt: skip
    shop.refused("invalid_account_kind", "settle_merchant", batch_id="b1",
                 merchant_account="alice", payout_account="bank", fees_account="fees",
                 fee_bps=0)  # fmt: skip
    shop.refused("currency_mismatch", "settle_merchant", batch_id="b1", merchant_account="shop",
                 payout_account="usd-bank", fees_account="fees", fee_bps=0)  # fmt: skip
    shop.refused("account_not_found", "settle_merchant", batch_id="b1", merchant_account="shop",
                 payout_account="bank", fees_account="nofees", fee_bps=0)  # fmt: skip
    shop.ok("settle_merchant", batch_id="b1", merchant_account="shop", payout_account="bank",
            fees_account="fees", fee_bps=0)  # fmt: skip
    shop.refused("batch_exists", "settle_merchant", batch_id="b1", merchant_account="shop",
                 payout_account="bank", fees_account="fees", fee_bps=0)  # fmt: skip


# --- envelope-level codes ---------------------------------------------------------------


def test_envelope_codes(books: Books) -> None:
    books.refused("unknown_command_type", "mint_money", account_id="x")
    books.refused("invalid_command", "open_account", account_id="x y", currency="EUR",
                  kind="customer")  # fmt: skip
