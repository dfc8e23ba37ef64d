"""KYC/AML screening as worked examples: the local screener's answers through the ledger.

pending → cleared | flagged → escalated → cleared | confirmed, each step by whom may
take it; a confirmed hit freezes every account of the holder (issue 18).
"""

from __future__ import annotations

from typing import Any

import pytest

from payments.domain.account import Account
from payments.domain.ids import account_id_to_uuid
from payments.domain.screening import Screening, screening_id_to_uuid
from payments.integrations.screening import LocalScreener, Subject, result_command
from payments.ledger.store import in_memory_application
from tests.support.signing import SignedLedger, register, signed_ledger

COMPLIANCE, PROVIDER = "analyst@test", "screener@test"
_n = 0


def send(ledger: SignedLedger, type_: str, actor: str = COMPLIANCE, **payload: Any) -> Any:
    global _n
    _n += 1
    return ledger.decide({"command_id": f"s-{_n}", "type": type_, "actor": actor,
                          "payload": payload})  # fmt: skip


@pytest.fixture
def books() -> SignedLedger:
    app = in_memory_application()
    ledger = signed_ledger(app)
    register(app, COMPLIANCE, frozenset({"compliance"}))
    register(app, PROVIDER, frozenset({"screening"}))
    ledger._registered.update({COMPLIANCE, PROVIDER})
    for account_id, kind in (("bank", "external"), ("ivan-1", "customer"), ("ivan-2", "customer"),
                             ("rosa", "customer")):  # fmt: skip
        assert send(ledger, "open_account", "ops@test", account_id=account_id, currency="EUR",
                    kind=kind).code is None  # fmt: skip
    for target in ("ivan-1", "ivan-2"):
        assert send(ledger, "transfer", "ops@test", transfer_id=f"fund-{target}",
                    from_account="bank", to_account=target, amount=1_000,
                    currency="EUR").code is None  # fmt: skip
    return ledger


def request(ledger: SignedLedger, screening_id: str, *accounts: str) -> Any:
    return send(ledger, "request_screening", screening_id=screening_id, holder_id="holder-7",
                account_ids=list(accounts), subject_ref="kyc-store:holder-7")  # fmt: skip


def answer(ledger: SignedLedger, screening_id: str, subject: Subject) -> Any:
    return ledger.decide(result_command(screening_id, LocalScreener().screen(subject), PROVIDER))


def status(ledger: SignedLedger, screening_id: str) -> str:
    found = ledger.app.repository.get(screening_id_to_uuid(screening_id))
    assert isinstance(found, Screening)
    return found.status


def frozen(ledger: SignedLedger, account_id: str) -> bool:
    found = ledger.app.repository.get(account_id_to_uuid(account_id))
    assert isinstance(found, Account)
    return found.frozen


def test_the_local_screener_is_deterministic_and_blind_to_case_and_accents() -> None:
    screener = LocalScreener()
    exact = screener.screen(Subject("IVAN placeholder", "1961-04-02"))
    assert (exact.result, exact.score, exact.matches) == ("hit", 100, ("wl-0001",))
    assert screener.screen(Subject("Placeholder, Ivan")).score == 90  # no birth date
    assert screener.screen(Subject("João da Silva Exemplo")).result == "clear"  # other name
    assert screener.screen(Subject("Joana da Silva Exemplo")).matches == ("wl-0002",)
    assert screener.screen(Subject("Ivan Placeholders")).result == "clear"
    assert screener.screen(Subject("Rosa Clean")) == screener.screen(Subject("Rosa Clean"))


def test_a_confirmed_hit_is_escalated_first_and_freezes_the_holders_accounts(
    books: SignedLedger,
) -> None:
    assert request(books, "scr-1", "ivan-1", "ivan-2").code is None
    assert status(books, "scr-1") == "pending"
    assert answer(books, "scr-1", Subject("Ivan Placeholder", "1961-04-02")).code is None
    assert status(books, "scr-1") == "flagged"
    resolve = {"screening_id": "scr-1", "reason": "same person: passport matches"}
    assert send(books, "resolve_screening", outcome="confirmed", **resolve).code == (
        "invalid_screening_state"  # not escalated yet
    )
    escalation = {"screening_id": "scr-1", "reason": "score 100: to the MLRO"}
    assert send(books, "escalate_screening", **escalation).code is None
    assert send(books, "resolve_screening", outcome="confirmed", **resolve).code is None
    assert status(books, "scr-1") == "confirmed"
    assert frozen(books, "ivan-1") and frozen(books, "ivan-2") and not frozen(books, "rosa")
    out = send(books, "transfer", "ops@test", transfer_id="t1", from_account="ivan-1",
               to_account="bank", amount=10, currency="EUR")  # fmt: skip
    assert out.code == "account_frozen" and "case scr-1" in out.message
    assert send(books, "transfer", "ops@test", transfer_id="t2", from_account="bank",
                to_account="ivan-1", amount=10, currency="EUR").code is None  # fmt: skip
    assert send(books, "escalate_screening", **escalation).code == "invalid_screening_state"


def test_a_clear_answer_and_a_hit_cleared_on_review(books: SignedLedger) -> None:
    assert request(books, "scr-2", "rosa").code is None
    assert answer(books, "scr-2", Subject("Rosa Clean")).code is None
    assert status(books, "scr-2") == "cleared"
    assert answer(books, "scr-2", Subject("Rosa Clean")).replayed  # the same answer: once

    assert request(books, "scr-3", "ivan-1").code is None
    assert answer(books, "scr-3", Subject("Ivan Placeholder", "1990-01-01")).code is None
    assert send(books, "escalate_screening", screening_id="scr-3", reason="score 90").code is None
    assert send(books, "resolve_screening", screening_id="scr-3", outcome="cleared",
                reason="born 1990: another person").code is None  # fmt: skip
    assert status(books, "scr-3") == "cleared" and not frozen(books, "ivan-1")


def test_screening_rejections_and_who_may_take_each_step(books: SignedLedger) -> None:
    assert request(books, "scr-4", "rosa", "ghost").code == "account_not_found"
    assert request(books, "scr-4", "rosa").code is None
    assert request(books, "scr-4", "rosa").code == "screening_exists"
    assert answer(books, "scr-9", Subject("x")).code == "screening_not_found"
    # The provider answers; it may not escalate. Compliance may not answer for it.
    escalate = {"screening_id": "scr-4", "reason": "r"}
    assert send(books, "escalate_screening", PROVIDER, **escalate).code == "forbidden"
    own_answer = {"screening_id": "scr-4", "result": "clear", "reason": "looks fine"}
    assert send(books, "record_screening_result", **own_answer).code == "forbidden"
    assert send(books, "record_screening_result", PROVIDER, screening_id="scr-4",
                result="maybe", reason="r").code == "invalid_command"  # fmt: skip
    assert request(books, "scr-5").code == "invalid_command"  # no accounts
