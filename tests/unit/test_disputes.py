"""Disputes as worked examples: the money at each step and a rejection code per rule.

The scenario: alice paid shop 10000 (captured). A network opens a dispute of 4000
with a 1500 fee; the disputed amount sits in `disputes` (external) until the end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payments.domain import dispute_handlers
from payments.domain.account import Account
from payments.domain.dispute import Dispute
from payments.domain.ids import account_id_to_uuid, dispute_id_to_uuid, payment_id_to_uuid
from payments.domain.payment import Payment
from payments.domain.sweeps import as_of_text
from payments.ledger.service import Ledger
from payments.ledger.store import PaymentsApplication, in_memory_application
from tests.support.signing import SignedLedger, register

NOW = datetime.now(UTC).replace(microsecond=0)
DUE = NOW + timedelta(days=7)
_ids = iter(range(1, 10_000))


def command(type_: str, actor: str = "network@visa", **payload: Any) -> dict[str, Any]:
    return {"command_id": f"c-{next(_ids)}", "type": type_, "actor": actor, "payload": payload}


class Books:
    def __init__(self) -> None:
        self.app: PaymentsApplication = in_memory_application()
        self.ledger = SignedLedger(Ledger(self.app))
        setup = [
            command("open_account", account_id="bank", currency="EUR", kind="external"),
            command("open_account", account_id="alice", currency="EUR", kind="customer"),
            command("open_account", account_id="shop", currency="EUR", kind="merchant"),
            command("open_account", account_id="fees", currency="EUR", kind="fees"),
            command("open_account", account_id="disputes", currency="EUR", kind="external"),
            command("open_account", account_id="payout", currency="EUR", kind="external"),
            command(
                "transfer",
                transfer_id="t1",
                from_account="bank",
                to_account="alice",
                amount=20_000,
                currency="EUR",
            ),
            command(
                "authorize_payment",
                payment_id="pay-1",
                payer_account="alice",
                merchant_account="shop",
                amount=10_000,
                currency="EUR",
            ),
            command("capture_payment", payment_id="pay-1"),
        ]
        for raw in setup:
            self.accept(raw)

    def decide(self, raw: dict[str, Any]) -> tuple[str, str | None, str]:
        outcome = self.ledger.decide(raw)
        return outcome.status, outcome.code, outcome.message

    def accept(self, raw: dict[str, Any]) -> None:
        status, code, message = self.decide(raw)
        assert status == "accepted", (raw, code, message)

    def code(self, raw: dict[str, Any]) -> str | None:
        return self.decide(raw)[1]

    def posted(self, account_id: str) -> int:
        account = self.app.repository.get(account_id_to_uuid(account_id))
        assert isinstance(account, Account)
        return account.posted

    def dispute(self, dispute_id: str = "dp-1") -> Dispute:
        found = self.app.repository.get(dispute_id_to_uuid(dispute_id))
        assert isinstance(found, Dispute)
        return found

    def open(self, dispute_id: str = "dp-1", amount: int = 4000, **more: Any) -> dict[str, Any]:
        fields = {"dispute_id": dispute_id, "payment_id": "pay-1", "amount": amount,
                  "reason_code": "10.4", "network": "visa", "evidence_due_by": as_of_text(DUE),
                  "disputes_account": "disputes", "fee": 1500, "fees_account": "fees"}  # fmt: skip
        return command("open_dispute", **{**fields, **more})


@pytest.fixture
def books() -> Books:
    return Books()


def evidence(dispute_id: str = "dp-1", text: str = "signed delivery receipt", **more: Any) -> dict:
    return command("submit_dispute_evidence", actor="shop@merchant", dispute_id=dispute_id,
                   text=text, documents=["doc:receipt-881.pdf"], **more)  # fmt: skip


def propose(outcome: str, actor: str = "ana@ops", dispute_id: str = "dp-1") -> dict:
    return command("propose_dispute_resolution", actor=actor, dispute_id=dispute_id,
                   outcome=outcome, note="network decision 2026-12-09")  # fmt: skip


def approve(outcome: str, actor: str = "ben@ops", dispute_id: str = "dp-1") -> dict:
    return command("approve_dispute_resolution", actor=actor, dispute_id=dispute_id,
                   outcome=outcome)  # fmt: skip


# --- the money ---------------------------------------------------------------------------


def test_opening_takes_the_amount_and_the_fee_from_the_merchant_at_once(books: Books) -> None:
    books.accept(books.open())
    assert books.posted("shop") == 10_000 - 4000 - 1500
    assert books.posted("disputes") == 4000
    assert books.posted("fees") == 1500
    assert books.dispute().status == "needs_response"
    payment = books.app.repository.get(payment_id_to_uuid("pay-1"))
    assert isinstance(payment, Payment) and payment.disputed == 4000


def test_contested_and_won_gives_the_amount_back_and_the_fee_per_pricing(books: Books) -> None:
    books.accept(books.open(fee_refunded_if_won=True))
    books.accept(evidence())
    assert books.dispute().status == "under_review"
    books.accept(propose("won"))
    books.accept(approve("won"))
    assert books.dispute().status == "won"
    assert books.posted("shop") == 10_000
    assert (books.posted("disputes"), books.posted("fees")) == (0, 0)
    # The amount may be refunded again once the dispute is won.
    books.accept(command("refund_payment", payment_id="pay-1", amount=10_000))


def test_won_keeps_the_fee_when_the_pricing_does_not_refund_it(books: Books) -> None:
    books.accept(books.open())
    books.accept(evidence())
    books.accept(propose("won"))
    books.accept(approve("won"))
    assert books.posted("shop") == 10_000 - 1500
    assert books.posted("fees") == 1500


def test_lost_gives_the_amount_to_the_payer(books: Books) -> None:
    books.accept(books.open())
    books.accept(evidence())
    books.accept(propose("lost"))
    books.accept(approve("lost"))
    assert books.posted("alice") == 20_000 - 10_000 + 4000
    assert books.posted("shop") == 10_000 - 4000 - 1500
    assert books.posted("disputes") == 0


def test_the_merchant_may_accept_early(books: Books) -> None:
    books.accept(books.open(fee=0, fees_account=None))
    books.accept(command("accept_dispute", actor="shop@merchant", dispute_id="dp-1"))
    assert books.dispute().status == "lost"
    assert books.posted("alice") == 10_000 + 4000


def test_no_evidence_by_the_due_date_is_lost_by_the_sweep(books: Books) -> None:
    books.accept(books.open("dp-late", evidence_due_by=as_of_text(NOW - timedelta(hours=1))))
    books.accept(books.open("dp-soon", amount=1000))  # due in a week: not yet
    sweep = command("expire_disputes", actor="cron@scheduler", as_of=as_of_text(NOW))
    books.accept(sweep)
    assert books.dispute("dp-late").status == "lost"
    assert books.dispute("dp-soon").status == "needs_response"
    assert books.posted("alice") == 10_000 + 4000
    # The same tick again is the same decision: replayed, nothing applied twice.
    assert books.ledger.decide(sweep).replayed
    assert books.posted("alice") == 10_000 + 4000


def test_a_contested_dispute_does_not_expire(books: Books, monkeypatch: pytest.MonkeyPatch) -> None:
    books.accept(books.open(evidence_due_by=as_of_text(NOW + timedelta(seconds=2))))
    monkeypatch.setattr(dispute_handlers, "clock", lambda: NOW)  # evidence in time
    books.accept(evidence())
    later = (NOW + timedelta(seconds=30)).replace(microsecond=0)
    books.accept(command("expire_disputes", actor="cron@scheduler", as_of=as_of_text(later)))
    assert books.dispute().status == "under_review"


def test_settlement_shows_the_withdrawal_and_the_reinstatement(books: Books) -> None:
    books.accept(books.open(fee_refunded_if_won=False))
    settle = {"merchant_account": "shop", "payout_account": "payout", "fees_account": "fees",
              "fee_bps": 0}  # fmt: skip
    books.accept(command("settle_merchant", actor="t@treasury", batch_id="b-1", **settle))
    account = books.app.repository.get(account_id_to_uuid("shop"))
    assert isinstance(account, Account) and account.posted == 0  # 10000 - 5500 paid out 4500
    assert books.posted("payout") == 4500
    books.accept(evidence())
    books.accept(propose("won"))
    books.accept(approve("won"))
    books.accept(command("settle_merchant", actor="t@treasury", batch_id="b-2", **settle))
    assert books.posted("payout") == 4500 + 4000
    assert books.posted("shop") == 0


# --- a rejection code per rule -------------------------------------------------------------


def test_every_rule_has_its_code(books: Books, monkeypatch: pytest.MonkeyPatch) -> None:
    assert books.code(books.open(amount=10_001)) == "amount_exceeds_captured"
    assert books.code(books.open("dp-x", payment_id="pay-404")) == "payment_not_found"
    assert books.code(books.open(disputes_account="alice")) == "invalid_account_kind"
    assert books.code(books.open(fee=100, fees_account=None)) == "invalid_command"
    books.accept(books.open())
    assert books.code(books.open()) == "dispute_exists"
    assert books.code(books.open("dp-2", amount=6001)) == "amount_exceeds_captured"
    refund = command("refund_payment", payment_id="pay-1", amount=6001)
    assert books.code(refund) == "amount_exceeds_captured"
    assert books.code(evidence("dp-404")) == "dispute_not_found"
    assert books.code(evidence(text="card 4111 1111 1111 1111")) == "card_data_in_evidence"
    assert books.code(propose("won")) == "invalid_dispute_state"  # no evidence yet
    assert books.code(approve("won")) == "resolution_not_proposed"
    books.accept(evidence())
    books.accept(propose("won"))
    assert books.code(approve("lost")) == "resolution_not_proposed"  # not what was proposed
    assert books.code(approve("won", actor="ana@ops")) == "proposer_cannot_approve"
    assert books.code(evidence()) == "invalid_dispute_state"  # a resolution is proposed
    books.accept(approve("won"))
    assert books.code(command("accept_dispute", dispute_id="dp-1")) == "invalid_dispute_state"
    future = as_of_text(datetime.now(UTC) + timedelta(minutes=5))
    sweep = command("expire_disputes", actor="cron@scheduler", as_of=future)
    assert books.code(sweep) == "as_of_in_future"
    books.accept(books.open("dp-3", amount=1000))
    monkeypatch.setattr(dispute_handlers, "clock", lambda: DUE + timedelta(seconds=1))
    assert books.code(evidence("dp-3")) == "evidence_past_due"


def test_only_the_roles_allow_each_step(books: Books) -> None:
    for principal, roles in (("shop@payments-only", {"payments"}), ("cron@only", {"scheduler"})):
        register(books.app, principal, frozenset(roles))
        books.ledger._registered.add(principal)  # not re-registered with every role
    books.accept(books.open())
    assert books.code(books.open("dp-m", actor="shop@payments-only")) == "forbidden"
    assert books.code(propose("won", actor="shop@payments-only")) == "forbidden"
    assert books.code(evidence() | {"actor": "cron@only"}) == "forbidden"
    assert books.code(evidence() | {"actor": "shop@payments-only"}) == "forbidden"
    sweep = command("expire_disputes", actor="cron@only", as_of=as_of_text(NOW))
    books.accept(sweep)
    books.accept(evidence())


def test_luhn_separates_card_numbers_from_other_long_numbers() -> None:
    dispute_handlers.check_no_card_data("order 1234567890123 shipped")  # fails Luhn
    with pytest.raises(Exception, match="card number"):
        dispute_handlers.check_no_card_data("5555-5555-5555-4444")
