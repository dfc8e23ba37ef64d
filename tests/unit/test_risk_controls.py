"""Freezes and risk rules as worked examples on the in-memory ledger (issue 18).

The clock is the tests' own (tests/support/clock.py): every event is stamped with it
and the rules read it, so windows and cooling-off periods are exact.
"""

from __future__ import annotations

from typing import Any

import pytest

from payments.domain.account import Account
from payments.domain.expiry import SHARDS, book_id
from payments.domain.ids import account_id_to_uuid, payment_id_to_uuid, transfer_id_to_uuid
from payments.domain.payment import Payment
from payments.domain.transfer import Transfer
from payments.ledger.store import in_memory_application
from tests.support.clock import ManualClock, install_clock
from tests.support.signing import SignedLedger, signed_ledger

_n = 0


def send(ledger: SignedLedger, type_: str, actor: str = "ops@test", **payload: Any) -> Any:
    global _n
    _n += 1
    raw = {"command_id": f"c-{_n}", "type": type_, "actor": actor, "payload": payload}
    return ledger.decide(raw)


def code(ledger: SignedLedger, type_: str, **payload: Any) -> str | None:
    outcome = send(ledger, type_, **payload)
    return outcome.code


def transfer(ledger: SignedLedger, tid: str, src: str, dst: str, amount: int) -> Any:
    return send(
        ledger, "transfer", transfer_id=tid, from_account=src, to_account=dst, amount=amount,
        currency="EUR",
    )  # fmt: skip


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    return install_clock(monkeypatch)


@pytest.fixture
def books(clock: ManualClock) -> SignedLedger:
    ledger = signed_ledger(in_memory_application())
    for account_id, kind in (("bank", "external"), ("alice", "customer"), ("bob", "customer"),
                             ("shop", "merchant"), ("fees", "fees")):  # fmt: skip
        assert (
            code(ledger, "open_account", account_id=account_id, currency="EUR", kind=kind) is None
        )
    assert transfer(ledger, "fund", "bank", "alice", 10_000).code is None
    return ledger


def account(ledger: SignedLedger, account_id: str) -> Account:
    found = ledger.app.repository.get(account_id_to_uuid(account_id))
    assert isinstance(found, Account)
    return found


# --- freezes ---------------------------------------------------------------------------


def freeze(ledger: SignedLedger, account_id: str, type_: str = "freeze_account") -> str | None:
    return code(ledger, type_, account_id=account_id, reason="AML review", case_ref="case-1")


def test_a_frozen_account_sends_nothing_but_receives(books: SignedLedger) -> None:
    assert freeze(books, "alice") is None
    assert transfer(books, "t1", "alice", "bob", 100).code == "account_frozen"
    auth = {"payment_id": "p1", "payer_account": "alice", "merchant_account": "shop",
            "amount": 100, "currency": "EUR"}  # fmt: skip
    assert code(books, "authorize_payment", **auth) == "account_frozen"
    assert transfer(books, "t2", "bank", "alice", 100).code is None  # credits still arrive
    assert account(books, "alice").posted == 10_100
    assert freeze(books, "alice") == "account_frozen"  # already
    assert freeze(books, "alice", "unfreeze_account") is None
    assert freeze(books, "alice", "unfreeze_account") == "account_not_frozen"
    assert transfer(books, "t1", "alice", "bob", 100).code is None


def test_a_frozen_payer_still_gets_its_chargeback_and_the_hold_can_be_voided(
    books: SignedLedger,
) -> None:
    for pid in ("p1", "p2"):
        auth = {"payment_id": pid, "payer_account": "alice", "merchant_account": "shop",
                "amount": 1_000, "currency": "EUR"}  # fmt: skip
        assert code(books, "authorize_payment", **auth) is None
    assert code(books, "capture_payment", payment_id="p1") is None
    assert freeze(books, "alice") is None
    assert code(books, "capture_payment", payment_id="p2") == "account_frozen"
    assert code(books, "void_payment", payment_id="p2") is None
    reason = {"reason": "fraud"}
    assert code(books, "chargeback_payment", payment_id="p1", amount=400, **reason) is None
    assert account(books, "alice").posted == 10_000 - 1_000 + 400
    assert freeze(books, "shop") is None  # a frozen merchant refunds nothing, is settled
    assert code(books, "refund_payment", payment_id="p1", amount=100) == "account_frozen"


def test_freezing_needs_the_risk_or_compliance_role(books: SignedLedger) -> None:
    from tests.support.signing import register

    register(books.app, "intruder@test", frozenset({"wallet"}))
    books._registered.add("intruder@test")
    outcome = send(books, "freeze_account", actor="intruder@test", account_id="alice",
                   reason="x", case_ref="c")  # fmt: skip
    assert outcome.code == "forbidden"
    register(books.app, "analyst@test", frozenset({"compliance"}))
    books._registered.add("analyst@test")
    outcome = send(books, "freeze_account", actor="analyst@test", account_id="alice",
                   reason="x", case_ref="c")  # fmt: skip
    assert outcome.code is None


# --- risk rules ------------------------------------------------------------------------

VELOCITY = {"rule_id": "v-hour", "kinds": ["customer"], "currency": "EUR",
            "window_seconds": 3600, "max_count": 3, "max_sum": 2_500}  # fmt: skip


def rules(ledger: SignedLedger, version: int, **sets: Any) -> str | None:
    return code(ledger, "set_risk_rules", version=version, **sets)


def test_velocity_counts_and_sums_debits_in_a_rolling_window(
    books: SignedLedger, clock: ManualClock
) -> None:
    assert rules(books, 1, velocity=[VELOCITY]) is None
    assert transfer(books, "t1", "alice", "bob", 1_000).code is None
    clock.advance(600)
    assert transfer(books, "t2", "alice", "bob", 1_000).code is None
    refused = transfer(books, "t3", "alice", "bob", 600)  # sum 2600 > 2500
    assert refused.code == "velocity_limit_exceeded"
    assert "rule v-hour (risk rules v1, velocity)" in refused.message
    assert "2 debits totalling 2000" in refused.message
    assert transfer(books, "t3", "alice", "bob", 500).code is None  # exactly 2500
    assert transfer(books, "t4", "alice", "bob", 1).code == "velocity_limit_exceeded"  # 4th
    clock.advance(3000)  # the first debit (t=0) is 3600 s old: out of the window
    assert transfer(books, "t4", "alice", "bob", 1).code is None
    # bob and the bank (other kind) are not limited by alice's rule
    assert transfer(books, "t5", "bank", "bob", 9_000).code is None


def test_authorizations_count_as_debits(books: SignedLedger) -> None:
    assert rules(books, 1, velocity=[{**VELOCITY, "max_count": 1, "max_sum": None}]) is None
    auth = {"payer_account": "alice", "merchant_account": "shop", "amount": 10, "currency": "EUR"}
    assert code(books, "authorize_payment", payment_id="p1", **auth) is None
    assert code(books, "authorize_payment", payment_id="p2", **auth) == "velocity_limit_exceeded"
    assert code(books, "capture_payment", payment_id="p1") is None  # not a new debit


def test_maximum_by_kind_and_tier(books: SignedLedger) -> None:
    tier0 = {"rule_id": "max-t0", "kinds": ["customer"], "currency": "EUR",
             "kyc_tiers": [0], "max_amount": 500}  # fmt: skip
    assert rules(books, 1, maximums=[tier0]) is None
    refused = transfer(books, "t1", "alice", "bob", 501)
    assert refused.code == "risk_blocked"
    assert "rule max-t0 (risk rules v1, maximum)" in refused.message
    assert code(books, "set_kyc_tier", account_id="alice", tier=2, reason="documents") is None
    assert transfer(books, "t1", "alice", "bob", 501).code is None


def test_cooling_off_for_new_accounts(books: SignedLedger, clock: ManualClock) -> None:
    cooling = {"rule_id": "new-7d", "kinds": ["customer"], "currency": "EUR",
               "seconds": 7 * 86_400, "max_amount": 100}  # fmt: skip
    assert rules(books, 1, cooling_off=[cooling]) is None
    refused = transfer(books, "t1", "alice", "bob", 101)
    assert refused.code == "risk_blocked" and "cooling_off" in refused.message
    assert transfer(books, "t1", "alice", "bob", 100).code is None
    clock.advance(7 * 86_400)
    assert transfer(books, "t2", "alice", "bob", 5_000).code is None


def test_rules_are_versioned_and_replaced_whole(books: SignedLedger) -> None:
    assert rules(books, 2, velocity=[VELOCITY]) == "risk_rules_conflict"
    assert rules(books, 1, velocity=[{**VELOCITY, "max_count": 1}]) is None
    assert transfer(books, "t1", "alice", "bob", 10).code is None
    assert transfer(books, "t2", "alice", "bob", 10).code == "velocity_limit_exceeded"
    assert rules(books, 1) == "risk_rules_conflict"
    assert rules(books, 2) is None  # v2: no rules at all
    assert transfer(books, "t2", "alice", "bob", 10).code is None


def test_bad_rules_are_invalid_commands(books: SignedLedger) -> None:
    assert rules(books, 1, velocity=[{**VELOCITY, "window_seconds": 90}]) == "invalid_command"
    assert rules(books, 1, velocity=[{**VELOCITY, "kinds": ["vip"]}]) == "invalid_command"
    assert rules(books, 1, maximums=[{"rule_id": "m", "kinds": ["customer"], "currency": "EUR",
                                      "max_amount": 1.5}]) == "invalid_command"  # fmt: skip


def test_the_velocity_state_survives_a_reload_from_the_store(
    books: SignedLedger, clock: ManualClock
) -> None:
    assert rules(books, 1, velocity=[{**VELOCITY, "max_count": 2}]) is None
    assert transfer(books, "t1", "alice", "bob", 10).code is None
    assert transfer(books, "t2", "alice", "bob", 10).code is None
    books.cache.evict([account_id_to_uuid("alice")])
    assert account(books, "alice").velocity[-1][1:] == [2, 20]
    assert transfer(books, "t3", "alice", "bob", 10).code == "velocity_limit_exceeded"


def test_frozen_and_velocity_state_survive_a_snapshot(clock: ManualClock) -> None:
    app = in_memory_application(snapshots=True)
    app.snapshot_interval = 2
    ledger = signed_ledger(app)
    for account_id, kind in (("bank", "external"), ("alice", "customer")):
        assert (
            code(ledger, "open_account", account_id=account_id, currency="EUR", kind=kind) is None
        )
    assert rules(ledger, 1, velocity=[{**VELOCITY, "max_count": 3}]) is None
    for n in range(3):
        assert transfer(ledger, f"t{n}", "bank", "alice", 100).code is None
        assert transfer(ledger, f"u{n}", "alice", "bank", 10).code is None
    assert freeze(ledger, "alice") is None
    assert app.snapshots is not None
    alice = account_id_to_uuid("alice")
    assert list(app.snapshots.get(alice)), "a snapshot of alice was taken"
    reloaded = signed_ledger(app)  # a new engine: an empty cache, loads from snapshots
    assert reloaded.decide(
        {"command_id": "late", "type": "transfer", "actor": "ops@test",
         "payload": {"transfer_id": "late", "from_account": "alice", "to_account": "bank",
                     "amount": 1, "currency": "EUR"}}
    ).code == "account_frozen"  # fmt: skip
    assert freeze(reloaded, "alice", "unfreeze_account") is None
    assert transfer(reloaded, "u9", "alice", "bank", 1).code == "velocity_limit_exceeded"


# --- authorization expiry --------------------------------------------------------------


def authorize(ledger: SignedLedger, pid: str, amount: int = 1_000, **extra: Any) -> str | None:
    return code(ledger, "authorize_payment", payment_id=pid, payer_account="alice",
                merchant_account="shop", amount=amount, currency="EUR", **extra)  # fmt: skip


def sweep(ledger: SignedLedger, as_of: str) -> Any:
    command_id, type_ = f"schedule:expire_authorizations:{as_of}", "expire_authorizations"
    payload = {"as_of": as_of}
    return ledger.decide(
        {"command_id": command_id, "type": type_, "actor": "ops@test", "payload": payload}
    )


def payment(ledger: SignedLedger, payment_id: str) -> Payment:
    found = ledger.app.repository.get(payment_id_to_uuid(payment_id))
    assert isinstance(found, Payment)
    return found


def test_a_capture_from_expires_at_on_is_refused(books: SignedLedger, clock: ManualClock) -> None:
    assert authorize(books, "p1", expires_in_seconds=600) is None
    assert payment(books, "p1").expires_at == "2026-12-01T09:10:00+00:00"
    clock.advance(599)
    assert code(books, "capture_payment", payment_id="p1", amount=100) is None
    clock.advance(1)  # exactly expires_at
    assert code(books, "capture_payment", payment_id="p1") == "authorization_expired"
    assert account(books, "alice").held == 900  # still held until the sweep (or a void)


def test_the_sweep_releases_what_remains_of_expired_holds_only(
    books: SignedLedger, clock: ManualClock
) -> None:
    assert authorize(books, "p1", expires_in_seconds=600) is None
    assert authorize(books, "p2", expires_in_seconds=3_600) is None
    assert authorize(books, "p3") is None  # no expiry: never released
    assert code(books, "capture_payment", payment_id="p1", amount=400) is None
    clock.advance(3_000)
    assert sweep(books, "2026-12-01T09:20:00Z").code is None
    assert payment(books, "p1").expired == 600 and payment(books, "p1").remaining == 0
    assert payment(books, "p2").expired == 0
    assert account(books, "alice").held == 2_000  # p2 and p3
    assert code(books, "void_payment", payment_id="p1") == "invalid_payment_state"
    assert code(books, "refund_payment", payment_id="p1", amount=400) is None  # captured part
    clock.advance(600)
    assert sweep(books, "2026-12-01T10:00:00Z").code is None
    assert account(books, "alice").held == 1_000  # p3 only
    assert sweep(books, "2026-12-01T10:00:00Z").replayed  # the same tick twice: once


def test_a_sweep_ahead_of_the_decision_releases_nothing_early(
    books: SignedLedger, clock: ManualClock
) -> None:
    assert authorize(books, "p1", expires_in_seconds=3_600) is None
    assert sweep(books, "2026-12-01T12:00:00Z").code is None  # as_of 3 h ahead of the clock
    assert account(books, "alice").held == 1_000
    clock.advance(3_600)
    assert sweep(books, "2026-12-01T10:00:00Z").code is None
    assert account(books, "alice").held == 0


def test_expiry_bounds_and_a_void_before_the_sweep(books: SignedLedger, clock: ManualClock) -> None:
    assert authorize(books, "p1", expires_in_seconds=59) == "invalid_command"
    assert authorize(books, "p1", expires_in_seconds=30 * 86_400 + 1) == "invalid_command"
    assert authorize(books, "p1", expires_in_seconds=60) is None
    clock.advance(120)
    assert code(books, "void_payment", payment_id="p1") is None  # expired, not yet swept
    assert sweep(books, "2026-12-01T09:02:00Z").code is None  # nothing left: only unlisted
    assert account(books, "alice").held == 0
    assert payment(books, "p1").expired == 0


def test_expiry_decisions_survive_a_reload_from_the_store(
    books: SignedLedger, clock: ManualClock
) -> None:
    assert authorize(books, "p1", expires_in_seconds=600) is None
    clock.advance(600)
    assert sweep(books, "2026-12-01T09:10:00Z").code is None
    reloaded = signed_ledger(books.app)  # a new engine: nothing cached, all from the store
    assert code(reloaded, "capture_payment", payment_id="p1") == "authorization_expired"
    assert payment(reloaded, "p1").expired == 1_000
    assert account(reloaded, "alice").held == 0


def test_the_expiry_books_survive_snapshots_and_a_new_engine(clock: ManualClock) -> None:
    app = in_memory_application(snapshots=True)
    app.snapshot_interval = 2
    ledger = signed_ledger(app)
    for account_id, kind in (("bank", "external"), ("alice", "customer"), ("shop", "merchant")):
        assert (
            code(ledger, "open_account", account_id=account_id, currency="EUR", kind=kind) is None
        )
    assert transfer(ledger, "fund", "bank", "alice", 10_000).code is None
    for n in range(40):  # 16 books: some get several entries, and snapshots
        assert authorize(ledger, f"p{n}", 10, expires_in_seconds=60 + n * 60) is None
    assert app.snapshots is not None
    snapshotted = [s for shard in range(SHARDS) for s in app.snapshots.get(book_id(shard))]
    assert snapshotted, "a snapshot of a busy expiry book was taken"
    clock.advance(20 * 60)
    reloaded = signed_ledger(app)  # an empty cache: books from their snapshots
    assert sweep(reloaded, "2026-12-01T09:20:00Z").code is None
    assert account(reloaded, "alice").held == 20 * 10  # p0..p19 released, p20..p39 held
    assert code(reloaded, "capture_payment", payment_id="p20") is None
    assert code(reloaded, "capture_payment", payment_id="p19") == "authorization_expired"


# --- review ----------------------------------------------------------------------------

REVIEW = {"rule_id": "big", "kinds": ["customer"], "currency": "EUR", "max_amount": 1_000,
          "action": "review"}  # fmt: skip


def transfer_of(ledger: SignedLedger, transfer_id: str) -> Transfer:
    found = ledger.app.repository.get(transfer_id_to_uuid(transfer_id))
    assert isinstance(found, Transfer)
    return found


def decide_review(ledger: SignedLedger, type_: str, transfer_id: str) -> str | None:
    return code(ledger, type_, transfer_id=transfer_id, note="called the customer")


def test_a_review_rule_holds_the_transfer_and_approval_posts_it(books: SignedLedger) -> None:
    assert rules(books, 1, maximums=[REVIEW]) is None
    assert transfer(books, "t1", "alice", "bob", 1_500).code is None  # accepted: in review
    held = transfer_of(books, "t1")
    assert (held.review, held.review_rule) == ("pending", "big (risk rules v1)")
    assert (account(books, "alice").posted, account(books, "alice").held) == (10_000, 1_500)
    assert account(books, "bob").posted == 0
    assert transfer(books, "t1", "alice", "bob", 10).code == "transfer_exists"
    assert transfer(books, "t2", "alice", "bob", 1_000).code is None  # not above: posted
    assert decide_review(books, "approve_review", "t2") == "review_closed"
    assert decide_review(books, "approve_review", "t9") == "review_not_found"
    assert decide_review(books, "approve_review", "t1") is None
    assert (account(books, "alice").posted, account(books, "alice").held) == (7_500, 0)
    assert account(books, "bob").posted == 2_500
    assert decide_review(books, "decline_review", "t1") == "review_closed"


def test_a_declined_review_releases_the_hold(books: SignedLedger) -> None:
    assert rules(books, 1, maximums=[REVIEW]) is None
    assert transfer(books, "t1", "alice", "bob", 9_000).code is None
    # the held 9000 counts against alice's funds meanwhile
    assert transfer(books, "t2", "alice", "bob", 1_001).code == "insufficient_funds"
    assert freeze(books, "alice") is None
    assert decide_review(books, "approve_review", "t1") == "account_frozen"
    assert decide_review(books, "decline_review", "t1") is None  # whatever the account's state
    assert (account(books, "alice").posted, account(books, "alice").held) == (10_000, 0)
    assert transfer_of(books, "t1").review == "declined"


def test_a_blocking_rule_before_a_review_rule_wins_and_authorizations_are_refused(
    books: SignedLedger,
) -> None:
    block = {"rule_id": "huge", "kinds": ["customer"], "currency": "EUR", "max_amount": 5_000}
    assert rules(books, 1, maximums=[block, REVIEW]) is None
    assert transfer(books, "t1", "alice", "bob", 6_000).code == "risk_blocked"
    assert authorize(books, "p1", 2_000) == "risk_blocked"  # its money is held anyway
    velocity = {**VELOCITY, "max_count": 1, "action": "review"}
    assert rules(books, 2, velocity=[velocity]) is None
    assert transfer(books, "t2", "alice", "bob", 10).code is None
    assert transfer(books, "t3", "alice", "bob", 10).code is None
    assert transfer_of(books, "t3").review == "pending"
    assert rules(books, 3, velocity=[{**velocity, "action": "sideways"}]) == "invalid_command"
