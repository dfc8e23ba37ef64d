"""The ledger on the real PostgreSQL: atomic batches, racing engines, restarts, read checks.

Every test uses its own ids (a random tag), never wipes anything, and may run while
other engines write to the same store.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from eventsourcing.persistence import IntegrityError

from payments.contract.wire import event_message
from payments.domain.account import Account
from payments.domain.ids import account_id_to_uuid, command_id_to_uuid
from payments.ledger import schema
from payments.ledger.service import IncomingCommand, Ledger
from payments.ledger.store import (
    IntakePosition,
    LedgerRecorder,
    PaymentsApplication,
    ReadConflict,
    open_application,
)
from payments.runtime.settings import Settings
from tests.support.signing import signed_ledger

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def installed(settings: Settings) -> Settings:
    schema.install(settings.require_admin_database_url(), settings.require_database_url())
    return settings


@pytest.fixture
def app(installed: Settings) -> Iterator[PaymentsApplication]:
    app = open_application(installed)
    yield app
    app.close()


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:12]


class Commands:
    """Envelopes with this test's tag on every id."""

    def __init__(self, tag: str, author: str = "") -> None:
        self.tag = tag
        self.author = author  # one per thread: command ids stay unique without a lock
        self.count = 0

    def id(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def make(self, type_: str, **payload: Any) -> dict[str, Any]:
        self.count += 1
        command_id = self.id(f"{self.author}c{self.count}")
        return {"command_id": command_id, "type": type_, "actor": "it@test", "payload": payload}

    def open(self, name: str, kind: str, overdraft: int = 0) -> dict[str, Any]:
        return self.make("open_account", account_id=self.id(name), currency="EUR", kind=kind,
                         overdraft_limit=overdraft)  # fmt: skip

    def transfer(self, source: str, target: str, amount: int) -> dict[str, Any]:
        raw = self.make("transfer", from_account=self.id(source), to_account=self.id(target),
                        amount=amount, currency="EUR")  # fmt: skip
        raw["payload"]["transfer_id"] = raw["command_id"]
        return raw


def account(app: PaymentsApplication, account_id: str) -> Account:
    loaded = app.load_many([account_id_to_uuid(account_id)])
    found = loaded.get(account_id_to_uuid(account_id))
    assert isinstance(found, Account)
    return found


def decide_all(ledger: Ledger, raws: list[dict[str, Any]]) -> list[str]:
    return [o.code or o.status for o in ledger.decide_batch([IncomingCommand(r) for r in raws])]


def test_bulk_loading_equals_the_repository(app: PaymentsApplication, tag: str) -> None:
    c = Commands(tag)
    ledger = signed_ledger(app)
    decide_all(ledger, [c.open("bank", "external"), c.open("a", "customer"),
                        c.transfer("bank", "a", 700), c.transfer("a", "bank", 200)])  # fmt: skip
    ids = [account_id_to_uuid(c.id(n)) for n in ("bank", "a", "missing")]
    loaded = app.load_many(ids)
    assert set(loaded) == set(ids[:2])
    for aggregate_id, aggregate in loaded.items():
        assert aggregate == app.repository.get(aggregate_id)
    assert account(app, c.id("a")).posted == 500


def test_a_batch_that_fails_to_save_stores_nothing(app: PaymentsApplication, tag: str) -> None:
    c = Commands(tag)
    ledger = signed_ledger(app)
    raws = [c.open("bank", "external"), c.open("a", "customer"), c.transfer("bank", "a", 900)]
    group = f"group-{tag}"
    batch = [IncomingCommand(raw, ("it.commands", 0, 40 + n)) for n, raw in enumerate(raws)]

    # Fail after the INSERT ran, inside the same transaction.
    with (
        mock.patch.object(
            LedgerRecorder, "_fetch_ids_after_insert_events", side_effect=RuntimeError("crash")
        ),
        pytest.raises(RuntimeError),
    ):
        ledger.decide_batch(batch, consumer_group=group)

    ids = [account_id_to_uuid(c.id("bank")), account_id_to_uuid(c.id("a"))]
    ids += [command_id_to_uuid(raw["command_id"]) for raw in raws]
    assert app.load_many(ids) == {}
    assert app.intake_positions(group) == {}

    # The same batch goes through afterwards, as if for the first time.
    outcomes = ledger.decide_batch(batch, consumer_group=group)
    assert [(o.status, o.replayed) for o in outcomes] == [("accepted", False)] * 3
    assert account(app, c.id("a")).posted == 900
    assert app.intake_positions(group) == {("it.commands", 0): 43}


def test_a_database_error_mid_transaction_stores_nothing(
    app: PaymentsApplication, tag: str
) -> None:
    """The INSERT itself fails (a duplicate key): positions written before it roll back."""
    c = Commands(tag)
    signed_ledger(app).decide(c.open("taken", "fees"))
    group = f"group-{tag}"
    fresh = Account.open(account_id=c.id("fresh"), currency="EUR", kind="fees",
                         overdraft_limit=0, command_id="x", actor="it")  # fmt: skip
    duplicate = Account.open(account_id=c.id("taken"), currency="EUR", kind="fees",
                             overdraft_limit=0, command_id="y", actor="it")  # fmt: skip
    with pytest.raises(IntegrityError):
        app.save(fresh, duplicate, intake_positions=[IntakePosition(group, "t", 0, 7)])
    assert app.load_many([fresh.id]) == {}
    assert app.intake_positions(group) == {}


def test_intake_positions_never_move_back(app: PaymentsApplication, tag: str) -> None:
    c = Commands(tag)
    ledger = signed_ledger(app)
    group = f"group-{tag}"
    ledger.decide_batch([IncomingCommand(c.open("a", "fees"), ("t", 3, 99))], consumer_group=group)
    ledger.decide_batch([IncomingCommand(c.open("b", "fees"), ("t", 3, 10))], consumer_group=group)
    ledger.decide_batch([IncomingCommand({"junk": 1}, ("t", 4, 0))], consumer_group=group)
    assert app.intake_positions(group) == {("t", 3): 100, ("t", 4): 1}


def test_outcomes_survive_a_restart(installed: Settings, tag: str) -> None:
    c = Commands(tag)
    raws = [c.open("bank", "external"), c.open("a", "customer"), c.transfer("a", "bank", 5)]
    first_app = open_application(installed)
    try:
        first = signed_ledger(first_app).decide_batch([IncomingCommand(r) for r in raws])
    finally:
        first_app.close()

    second_app = open_application(installed)  # a new engine process, cold cache
    try:
        again = signed_ledger(second_app).decide_batch([IncomingCommand(r) for r in raws])
        conflict = signed_ledger(second_app).decide(raws[2] | {"type": "close_account"})
    finally:
        second_app.close()
    assert [(o.status, o.code) for o in first] == [
        ("accepted", None), ("accepted", None), ("rejected", "insufficient_funds")
    ]  # fmt: skip
    assert [(o.status, o.code, o.replayed) for o in again] == [
        (o.status, o.code, True) for o in first
    ]
    assert [o.processed_at for o in again] == [o.processed_at for o in first]
    assert [o.message for o in again] == [o.message for o in first]
    assert conflict.code == "idempotency_conflict"


def test_the_read_check_refuses_changed_or_new_aggregates(
    app: PaymentsApplication, tag: str
) -> None:
    c = Commands(tag)
    signed_ledger(app).decide(c.open("a", "fees"))
    a = account_id_to_uuid(c.id("a"))
    nobody = account_id_to_uuid(c.id("nobody"))
    for stale in ({a: 2}, {a: None}, {nobody: 1}):
        with pytest.raises(ReadConflict):
            app.save(expected_versions=stale)
    app.save(expected_versions={a: 1, nobody: None})


def test_a_stale_read_rolls_back_the_events_sent_with_it(
    app: PaymentsApplication, tag: str
) -> None:
    """The read versions come back with the INSERT's rows (one pipeline): the check,
    made after the INSERT ran, still leaves no event and no position behind."""
    c = Commands(tag)
    signed_ledger(app).decide(c.open("a", "fees"))
    a = account_id_to_uuid(c.id("a"))
    group = f"group-{tag}"
    positions = [IntakePosition(group, "t", 0, 7)]

    def fresh() -> Account:  # a save takes the pending events: a new one per save
        return Account.open(account_id=c.id("fresh"), currency="EUR", kind="fees",
                            overdraft_limit=0, command_id="x", actor="it")  # fmt: skip

    with pytest.raises(ReadConflict):
        app.save(fresh(), expected_versions={a: 2}, intake_positions=positions)
    fresh_id = account_id_to_uuid(c.id("fresh"))
    assert app.load_many([fresh_id]) == {}
    assert app.intake_positions(group) == {}
    app.save(fresh(), expected_versions={a: 1}, intake_positions=positions)
    assert set(app.load_many([fresh_id])) == {fresh_id}
    assert app.intake_positions(group) == {("t", 0): 7}


def test_a_stale_engine_decides_again_on_fresh_state(installed: Settings, tag: str) -> None:
    c = Commands(tag)
    app_a, app_b = open_application(installed), open_application(installed)
    try:
        engine_a, engine_b = signed_ledger(app_a), signed_ledger(app_b)
        assert decide_all(engine_a, [c.open("bank", "external"), c.open("a", "customer")]) == [
            "accepted", "accepted"
        ]  # fmt: skip
        assert engine_a.decide(c.transfer("a", "bank", 1)).code == "insufficient_funds"
        # Engine B funds a; A still has a at 0 in its cache and only *reads* it to refuse.
        assert engine_b.decide(c.transfer("bank", "a", 50)).status == "accepted"
        with mock.patch("payments.ledger.service.log") as log:
            assert engine_a.decide(c.transfer("a", "bank", 50)).status == "accepted"
        assert any(call.args[0] == "ledger.conflict" for call in log.info.call_args_list)
        assert account(app_a, c.id("a")).posted == 0
    finally:
        app_a.close()
        app_b.close()


def test_two_engines_on_one_hot_account_lose_no_update(installed: Settings, tag: str) -> None:
    c = Commands(tag)
    setup = open_application(installed)
    try:
        assert decide_all(
            signed_ledger(setup), [c.open("bank", "external"), c.open("hot", "customer"),
                            c.open("sink", "external")]
        ) == ["accepted"] * 3  # fmt: skip
    finally:
        setup.close()

    accepted: dict[str, list[tuple[str, int]]] = {"credits": [], "debits": []}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def engine(seed: int) -> None:
        rng = random.Random(seed)
        mine = Commands(tag, author=f"engine{seed}-")
        app = open_application(installed)
        try:
            ledger = signed_ledger(app)
            for _ in range(15):
                batch = []
                for _ in range(rng.randint(1, 8)):
                    amount = rng.randint(1, 100)
                    if rng.random() < 0.5:
                        batch.append((mine.transfer("bank", "hot", amount), "credits", amount))
                    else:
                        batch.append((mine.transfer("hot", "sink", amount), "debits", amount))
                outcomes = ledger.decide_batch([IncomingCommand(raw) for raw, _, _ in batch])
                with lock:
                    for (raw, side, amount), outcome in zip(batch, outcomes, strict=True):
                        if outcome.status == "accepted":
                            accepted[side].append((raw["command_id"], amount))
                        else:
                            assert outcome.code == "insufficient_funds", outcome
        except BaseException as error:  # reported in the main thread
            errors.append(error)
        finally:
            app.close()

    threads = [threading.Thread(target=engine, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors

    check = open_application(installed)
    try:
        hot = account(check, c.id("hot"))
        credits = sum(a for _, a in accepted["credits"])
        debits = sum(a for _, a in accepted["debits"])
        assert hot.posted == credits - debits
        assert account(check, c.id("bank")).posted == -credits
        assert account(check, c.id("sink")).posted == debits
        # Never overdrawn at any point of its history (overdraft limit 0).
        running = 0
        for event in check.repository.event_store.get(account_id_to_uuid(c.id("hot"))):
            if isinstance(event, Account.Credited):
                running += event.amount
            elif isinstance(event, Account.Debited):
                running -= event.amount
                assert running >= 0
        assert len(accepted["credits"]) + len(accepted["debits"]) > 0
    finally:
        check.close()


def test_relayed_events_carry_the_wire_format(app: PaymentsApplication, tag: str) -> None:
    c = Commands(tag)
    ledger = signed_ledger(app)
    decide_all(ledger, [c.open("bank", "external"), c.open("a", "customer")])
    start = app.recorder.max_notification_id() or 0
    raw = c.transfer("bank", "a", 123)
    ledger.decide(raw)
    mine = [
        event_message(n, app.mapper)
        for n in app.recorder.select_notifications(start + 1, 1000)
        if n.originator_id == account_id_to_uuid(c.id("a"))
    ]
    assert len(mine) == 1
    credited = mine[0]
    assert credited["event_type"] == "Account.Credited"
    assert credited["aggregate_type"] == "Account"
    assert credited["aggregate_version"] == 2
    assert credited["command_id"] == raw["command_id"]
    assert credited["actor"] == "it@test"
    assert credited["recorded_at"].endswith("Z")
    assert credited["payload"]["amount"] == 123
    assert credited["payload"]["reason"] == "transfer"
    assert str(uuid.uuid5(uuid.UUID(credited["aggregate_id"]), "2")) == credited["event_id"]
    assert "originator_id" not in credited["payload"] and "actor" not in credited["payload"]


def test_a_duplicate_business_id_from_another_engine_collides(
    installed: Settings, tag: str
) -> None:
    """Two engines that both think an account is new: the primary key decides."""
    c = Commands(tag)
    app_a, app_b = open_application(installed), open_application(installed)
    try:
        engine_a, engine_b = signed_ledger(app_a), signed_ledger(app_b)
        first = c.open("dup", "fees")
        second = c.open("dup", "customer")
        # B loads "dup" as absent (warming nothing: absences are not cached) ...
        assert engine_a.decide(first).status == "accepted"
        assert engine_b.decide(second).code == "account_exists"
        # ... and the absent-read check protects a save racing with a create.
        with pytest.raises(IntegrityError):
            app_b.save(expected_versions={account_id_to_uuid(c.id("dup")): None})
    finally:
        app_a.close()
        app_b.close()


# --- the reference model, on PostgreSQL ------------------------------------------------

ID_FIELDS = {
    "account_id", "from_account", "to_account", "payer_account", "merchant_account",
    "payout_account", "fees_account", "payment_id", "transfer_id", "batch_id",
    "dispute_id", "disputes_account",
}  # fmt: skip


def namespaced(raw: dict[str, Any], tag: str) -> dict[str, Any]:
    """The same command with every valid id prefixed (invalid ones stay invalid)."""
    from payments.domain.commands import is_valid_command_id
    from tests.reference_model import ID

    raw = dict(raw)
    if is_valid_command_id(raw.get("command_id")):
        raw["command_id"] = f"{tag}-{raw['command_id']}"
    raw["payload"] = {
        key: f"{tag}-{value}" if key in ID_FIELDS and isinstance(value, str)
        and ID.fullmatch(value) else value
        for key, value in raw["payload"].items()
    }  # fmt: skip
    return raw


def test_postgres_ledger_agrees_with_the_reference_model(installed: Settings) -> None:
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st

    from tests.reference_model import ReferenceBooks
    from tests.unit.test_reference_model import PREAMBLE, build, envelope, steps

    app = open_application(installed)

    @hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(generated=st.lists(steps, min_size=4, max_size=30), size=st.integers(1, 8))
    def check(generated: list[Any], size: int) -> None:
        one_tag, batch_tag = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
        raws = [envelope(f"pre-{n}", t, p) for n, (t, p) in enumerate(PREAMBLE)]
        # Not set_risk_rules: the store has one risk policy, so rules set here would
        # apply to every other test on this database (tests/integration/test_risk_engine.py
        # decides them on a database of its own). Nor expire_authorizations: the store's
        # expiry books hold every test's authorizations, so a sweep would release theirs.
        # And no clock ticks: this engine and the model both read the real clock.
        raws += [
            raw
            for raw in build(generated)
            if "tick" not in raw and raw["type"] not in ("set_risk_rules", "expire_authorizations")
        ]
        books = ReferenceBooks()
        one_by_one, batched = signed_ledger(app), signed_ledger(app)

        def assert_accounts(tag: str) -> None:
            for account_id, state in books.accounts.items():
                stored = account(app, f"{tag}-{account_id}")
                assert (stored.posted, stored.held, stored.closed) == (
                    state["posted"], state["held"], state["closed"]
                )  # fmt: skip

        expected = []
        for raw in raws:
            want = books.decide(raw)
            got = one_by_one.decide(namespaced(raw, one_tag))
            assert (got.status, got.code, got.replayed) == want, (raw, got.message)
            expected.append(want)
        # Checked before the batched pass: the store has one dispute calendar, so that
        # pass's sweeps also lose the disputes of this pass that are still due.
        assert_accounts(one_tag)
        got_batched = []
        for start in range(0, len(raws), size):
            chunk = [IncomingCommand(namespaced(r, batch_tag)) for r in raws[start : start + size]]
            got_batched += batched.decide_batch(chunk)
        assert [(o.status, o.code, o.replayed) for o in got_batched] == expected
        assert_accounts(batch_tag)

    try:
        check()
    finally:
        app.close()


def test_busy_accounts_are_snapshotted_and_load_the_same(installed: Settings, tag: str) -> None:
    c = Commands(tag)
    app = open_application(installed)
    try:
        assert app.snapshots is not None
        app.snapshot_interval = 5
        ledger = signed_ledger(app)
        decide_all(ledger, [c.open("bank", "external"), c.open("a", "customer")])
        for n in range(1, 13):  # one per batch: each save may cross an interval
            assert ledger.decide(c.transfer("bank", "a", n)).status == "accepted"
        bank = account_id_to_uuid(c.id("bank"))
        snapshots = list(app.snapshots.get(bank))
        assert [s.originator_version for s in snapshots] == [5, 10]
    finally:
        app.close()

    fresh = open_application(installed)  # a restart: loads from the snapshot at 10
    try:
        loaded = fresh.load_many([bank, account_id_to_uuid(c.id("a"))])
        assert loaded[bank].version == 13
        assert loaded[bank] == fresh.repository.get(bank)
        assert loaded[bank].posted == -sum(range(1, 13))  # type: ignore[attr-defined]
        assert signed_ledger(fresh).decide(c.transfer("a", "bank", 78)).status == "accepted"
        assert account(fresh, c.id("a")).posted == 0
    finally:
        fresh.close()
