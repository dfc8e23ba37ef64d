"""The ledger as a service: idempotency, batches, intake positions, conflicts, crashes."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from eventsourcing.persistence import IntegrityError

from payments.domain import handlers
from payments.domain.account import Account
from payments.domain.ids import account_id_to_uuid
from payments.ledger import signature_pool
from payments.ledger.service import IncomingCommand, Ledger, LedgerConflictError
from payments.ledger.store import PaymentsApplication, ReadConflict, in_memory_application
from tests.support.signing import signed_ledger

ACTOR = "ops@example"


def command(command_id: str, type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": command_id, "type": type_, "actor": ACTOR, "payload": payload}


def open_account(command_id: str, account_id: str, kind: str = "customer") -> dict[str, Any]:
    return command(command_id, "open_account", account_id=account_id, currency="EUR", kind=kind)


def transfer(command_id: str, source: str, target: str, amount: int) -> dict[str, Any]:
    return command(command_id, "transfer", transfer_id=command_id, from_account=source,
                   to_account=target, amount=amount, currency="EUR")  # fmt: skip


def posted(app: PaymentsApplication, account_id: str) -> int:
    account = app.repository.get(account_id_to_uuid(account_id))
    assert isinstance(account, Account)
    return account.posted


def stored_event_count(app: PaymentsApplication) -> int:
    return app.recorder.max_notification_id() or 0


@pytest.fixture
def app() -> PaymentsApplication:
    app = in_memory_application()
    ledger = signed_ledger(app)
    for raw in [open_account("o1", "bank", "external"), open_account("o2", "alice"),
                transfer("fund", "bank", "alice", 1_000)]:  # fmt: skip
        assert ledger.decide(raw).status == "accepted"
    return app


# --- idempotency -------------------------------------------------------------------------


def test_a_resent_command_is_replayed_with_its_original_outcome(app: PaymentsApplication) -> None:
    ledger = signed_ledger(app)
    first = ledger.decide(transfer("t1", "alice", "bank", 100))
    before = stored_event_count(app)
    again = ledger.decide(transfer("t1", "alice", "bank", 100))
    assert again.replayed and not first.replayed
    assert (again.status, again.code, again.processed_at) == ("accepted", None, first.processed_at)
    assert stored_event_count(app) == before
    assert posted(app, "alice") == 900


def test_a_rejected_command_is_replayed_as_rejected(app: PaymentsApplication) -> None:
    ledger = signed_ledger(app)
    first = ledger.decide(transfer("t1", "alice", "bank", 5_000))
    assert first.code == "insufficient_funds"
    ledger.decide(transfer("t-more", "bank", "alice", 10_000))
    again = ledger.decide(transfer("t1", "alice", "bank", 5_000))
    assert (again.status, again.code, again.replayed) == ("rejected", "insufficient_funds", True)
    assert again.message == first.message
    assert posted(app, "alice") == 11_000


def test_an_invalid_command_resent_is_replayed(app: PaymentsApplication) -> None:
    ledger = signed_ledger(app)
    bad = transfer("t1", "alice", "bank", 10)
    bad["payload"]["amount"] = 1.5
    assert ledger.decide(bad).code == "invalid_amount"
    again = ledger.decide(bad)
    assert (again.code, again.replayed) == ("invalid_amount", True)


def test_the_same_command_id_for_another_command_is_a_conflict(app: PaymentsApplication) -> None:
    ledger = signed_ledger(app)
    ledger.decide(transfer("t1", "alice", "bank", 100))
    before = stored_event_count(app)
    other = ledger.decide(transfer("t1", "alice", "bank", 999))
    assert (other.status, other.code, other.replayed) == ("rejected", "idempotency_conflict", False)
    assert stored_event_count(app) == before  # not recorded: the original stays
    assert ledger.decide(transfer("t1", "alice", "bank", 100)).replayed
    assert posted(app, "alice") == 900


def test_a_bad_command_id_is_rejected_and_not_remembered(app: PaymentsApplication) -> None:
    ledger = signed_ledger(app)
    before = stored_event_count(app)
    for bad_id in ["", "x" * 129, "new\nline", 17]:
        raw = transfer("t", "alice", "bank", 1) | {"command_id": bad_id}
        outcome = ledger.decide(raw)
        assert (outcome.status, outcome.code) == ("rejected", "invalid_command")
    assert stored_event_count(app) == before


def test_outcome_json_is_the_contract_message(app: PaymentsApplication) -> None:
    message = signed_ledger(app).decide(transfer("t1", "alice", "bank", 1)).to_json()
    assert set(message) == {
        "command_id", "type", "status", "code", "message", "replayed", "processed_at"
    }  # fmt: skip
    assert message["processed_at"].endswith("Z")
    assert (message["type"], message["status"], message["code"]) == ("transfer", "accepted", None)


# --- batches -----------------------------------------------------------------------------


def test_a_batch_sees_its_own_earlier_commands(app: PaymentsApplication) -> None:
    outcomes = signed_ledger(app).decide_batch(
        [
            IncomingCommand(open_account("b1", "bob")),
            IncomingCommand(transfer("b2", "alice", "bob", 600)),
            IncomingCommand(transfer("b3", "alice", "bob", 600)),  # only 400 left
            IncomingCommand(transfer("b2", "alice", "bob", 600)),  # duplicate in the batch
            IncomingCommand(transfer("b2", "alice", "bob", 1)),  # conflict in the batch
        ]
    )
    assert [(o.status, o.code, o.replayed) for o in outcomes] == [
        ("accepted", None, False),
        ("accepted", None, False),
        ("rejected", "insufficient_funds", False),
        ("accepted", None, True),
        ("rejected", "idempotency_conflict", False),
    ]
    assert (posted(app, "alice"), posted(app, "bob")) == (400, 600)


def test_a_batch_is_stored_in_decision_order_with_command_and_actor(
    app: PaymentsApplication,
) -> None:
    start = stored_event_count(app)
    signed_ledger(app).decide_batch(
        [
            IncomingCommand(open_account("b1", "bob")),
            IncomingCommand(transfer("b2", "alice", "bob", 5)),
        ]
    )
    new = app.recorder.select_notifications(start + 1, 100)
    events = [app.mapper.to_domain_event(n) for n in new]
    assert [type(e).__qualname__ for e in events] == [
        "Account.Opened",
        "CommandRecord.Decided",
        "Transfer.Recorded",
        "Account.Debited",
        "Account.Credited",
        "CommandRecord.Decided",
    ]
    assert all(e.actor == ACTOR for e in events)  # type: ignore[attr-defined]
    assert [e.command_id for e in events] == ["b1"] * 2 + ["b2"] * 4  # type: ignore[attr-defined]


def test_intake_positions_are_stored_with_the_batch(app: PaymentsApplication) -> None:
    ledger = signed_ledger(app)
    ledger.decide_batch(
        [
            IncomingCommand(transfer("k1", "alice", "bank", 1), ("cmds", 0, 10)),
            IncomingCommand(transfer("k2", "alice", "bank", 1), ("cmds", 1, 7)),
            IncomingCommand({"command_id": 5}, ("cmds", 0, 11)),  # rejected, still consumed
        ],
        consumer_group="engines",
    )
    assert app.intake_positions("engines") == {("cmds", 0): 12, ("cmds", 1): 8}
    ledger.decide_batch([IncomingCommand({"no": "id"}, ("cmds", 0, 3))], consumer_group="engines")
    assert app.intake_positions("engines")[("cmds", 0)] == 12  # never moves back
    assert app.intake_positions("others") == {}


def test_records_that_are_not_commands_still_advance_the_positions(
    app: PaymentsApplication,
) -> None:
    ledger = signed_ledger(app)
    assert ledger.decide_batch([], consumer_group="g", consumed=[("cmds", 2, 5)]) == []
    ledger.decide_batch(
        [IncomingCommand(transfer("k1", "alice", "bank", 1), ("cmds", 2, 6))],
        consumer_group="g",
        consumed=[("cmds", 2, 9), ("cmds", 0, 1)],
    )
    assert app.intake_positions("g") == {("cmds", 2): 10, ("cmds", 0): 2}


# --- failures ----------------------------------------------------------------------------


def test_a_command_that_crashes_is_rejected_alone(
    app: PaymentsApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: Any) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(handlers.HANDLERS, "close_account", crash)
    start = stored_event_count(app)
    outcomes = signed_ledger(app).decide_batch(
        [
            IncomingCommand(transfer("x1", "alice", "bank", 10)),
            IncomingCommand(command("x2", "close_account", account_id="alice")),
            IncomingCommand(transfer("x3", "alice", "bank", 10)),
        ]
    )
    assert [(o.status, o.code) for o in outcomes] == [
        ("accepted", None),
        ("rejected", "internal_error"),
        ("accepted", None),
    ]
    assert posted(app, "alice") == 980
    commands = {app.mapper.to_domain_event(n).command_id  # type: ignore[attr-defined]
                for n in app.recorder.select_notifications(start + 1, 100)}  # fmt: skip
    assert commands == {"x1", "x3"}  # the crashed one is not remembered: it may be retried


def test_a_rule_broken_after_an_event_counts_as_a_crash(
    app: PaymentsApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.domain.errors import InsufficientFunds

    original = handlers.HANDLERS["transfer"]

    def half_then_refuse(cmd: Any, uow: Any) -> None:
        original(cmd, uow)
        raise InsufficientFunds("too late")

    monkeypatch.setitem(handlers.HANDLERS, "transfer", half_then_refuse)
    outcome = signed_ledger(app).decide(transfer("y1", "alice", "bank", 10))
    assert outcome.code == "internal_error"
    assert posted(app, "alice") == 1_000


def test_a_stale_cache_is_detected_and_the_batch_decided_again(app: PaymentsApplication) -> None:
    engine_a, engine_b = signed_ledger(app), signed_ledger(app)  # one store, two caches
    assert engine_a.decide(transfer("a1", "alice", "bank", 100)).status == "accepted"
    # Engine B drains alice; engine A's cache still says 900.
    assert engine_b.decide(transfer("b1", "alice", "bank", 900)).status == "accepted"
    # Written aggregate (alice): the primary key catches the stale version.
    assert engine_a.decide(transfer("a2", "alice", "bank", 1)).code == "insufficient_funds"
    # Read-only aggregate: B funds alice; A's cache says 0, so A would refuse, writing
    # only its CommandRecord — the read check catches it and A decides again.
    assert engine_b.decide(transfer("b2", "bank", "alice", 50)).status == "accepted"
    assert engine_a.decide(transfer("a3", "alice", "bank", 50)).status == "accepted"
    assert posted(app, "alice") == 0


def test_the_read_check_refuses_a_changed_aggregate(app: PaymentsApplication) -> None:
    alice = account_id_to_uuid("alice")
    version = app.repository.get(alice).version
    with pytest.raises(ReadConflict):
        app.save(expected_versions={alice: version - 1})
    with pytest.raises(ReadConflict):
        app.save(expected_versions={account_id_to_uuid("nobody"): 1})
    with pytest.raises(ReadConflict):
        app.save(expected_versions={alice: None})
    app.save(expected_versions={alice: version, account_id_to_uuid("nobody"): None})


def test_endless_conflicts_give_up(app: PaymentsApplication) -> None:
    ledger = signed_ledger(app)
    with (
        mock.patch.object(app, "record", side_effect=IntegrityError("always")),
        mock.patch("payments.ledger.service.time.sleep"),
        pytest.raises(LedgerConflictError),
    ):
        ledger.decide(transfer("z1", "alice", "bank", 1))
    assert posted(app, "alice") == 1_000
    assert ledger.decide(transfer("z1", "alice", "bank", 1)).status == "accepted"


def test_a_failed_save_leaves_no_trace_in_the_cache(app: PaymentsApplication) -> None:
    ledger = signed_ledger(app)
    ledger.decide(transfer("w0", "alice", "bank", 1))  # alice now cached at 999
    with (
        mock.patch.object(app, "record", side_effect=RuntimeError("disk on fire")),
        pytest.raises(RuntimeError),
    ):
        ledger.decide(transfer("w1", "alice", "bank", 999))
    assert ledger.decide(transfer("w2", "alice", "bank", 999)).status == "accepted"
    assert posted(app, "alice") == 0


def test_a_database_outage_reaches_the_caller(app: PaymentsApplication) -> None:
    """The engine retries with backoff; the ledger must not turn it into an outcome."""
    from eventsourcing.persistence import OperationalError

    ledger = signed_ledger(app)
    with (
        mock.patch.object(app, "load_many", side_effect=OperationalError("down")),
        pytest.raises(OperationalError),
    ):
        ledger.decide(transfer("d1", "alice", "bank", 1))
    with (
        mock.patch.object(app, "record", side_effect=OperationalError("down")),
        pytest.raises(OperationalError),
    ):
        ledger.decide(transfer("d1", "alice", "bank", 1))
    assert ledger.decide(transfer("d1", "alice", "bank", 1)).replayed is False


def test_a_clock_stepping_back_cannot_reorder_an_aggregates_events(
    app: PaymentsApplication,
) -> None:
    from datetime import UTC, datetime, timedelta

    from eventsourcing import domain

    ledger = signed_ledger(app)
    ledger.decide(open_account("o3", "shop", "merchant"))
    ledger.decide(open_account("o4", "fees", "fees"))
    ledger.decide(command("a1", "authorize_payment", payment_id="p", payer_account="alice",
                          merchant_account="shop", amount=500, currency="EUR"))  # fmt: skip
    ledger.decide(command("a2", "capture_payment", payment_id="p"))
    start = stored_event_count(app)
    backwards = (datetime(2030, 1, 1, tzinfo=UTC) - timedelta(seconds=n) for n in range(100))
    with mock.patch.object(domain.CanCreateTimestamp, "create_timestamp", lambda: next(backwards)):
        outcome = ledger.decide(
            command("s1", "settle_merchant", batch_id="b", merchant_account="shop",
                    payout_account="bank", fees_account="fees", fee_bps=100)
        )  # fmt: skip
    assert outcome.status == "accepted"
    versions: dict[Any, int] = {}
    for notification in app.recorder.select_notifications(start + 1, 100):
        assert notification.originator_version > versions.get(notification.originator_id, 0)
        versions[notification.originator_id] = notification.originator_version
    # batch, 3 on the merchant (fee, payout, settled), fees and bank credits, record
    assert len(app.recorder.select_notifications(start + 1, 100)) == 7


def test_accounts_are_snapshotted_every_interval() -> None:
    app = in_memory_application(snapshots=True)
    app.snapshot_interval = 3
    ledger = signed_ledger(app)
    ledger.decide_batch([IncomingCommand(open_account("o1", "bank", "external")),
                         IncomingCommand(open_account("o2", "alice"))])  # fmt: skip
    for n in range(7):
        ledger.decide(transfer(f"t{n}", "bank", "alice", 10))
    ledger.decide_batch([IncomingCommand(transfer(f"u{n}", "bank", "alice", 1)) for n in range(4)])
    assert app.snapshots is not None
    versions = [s.originator_version for s in app.snapshots.get(account_id_to_uuid("bank"))]
    assert versions == [3, 6, 12]  # the batch went from 8 to 12 in one save
    assert posted(app, "alice") == 74
    assert not in_memory_application().snapshots  # off unless asked for


def test_signatures_checked_ahead_in_worker_processes_still_decide_each_command() -> None:
    """A big batch's signatures are verified in worker processes; a tampered command,
    an unknown key and good ones in one batch each get their own answer."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from payments.contract.signing import Signer
    from tests.support.signing import register

    app = in_memory_application()
    ledger = Ledger(app)
    signer = register(app, "ahead@test")
    stranger = Signer(Ed25519PrivateKey.generate(), "ahead@test")

    def opening(n: int) -> dict[str, Any]:
        return {
            "command_id": f"ahead-{n}",
            "type": "open_account",
            "actor": "ahead@test",
            "payload": {"account_id": f"ahead-{n}", "currency": "EUR", "kind": "customer"},
        }

    tampered = signer.sign(opening(1))
    tampered["payload"] = {**tampered["payload"], "kind": "external"}
    batch = [signer.sign(opening(0)), tampered, stranger.sign(opening(2))]
    batch += [signer.sign(opening(n)) for n in range(3, 140)]
    late = signer.sign(opening(140))
    late["payload"] = {**late["payload"], "kind": "external"}  # tampered, in a later chunk
    batch.append(late)
    assert len(batch) > signature_pool.CHUNK >= signature_pool.MIN_BATCH  # two chunks
    outcomes = ledger.decide_batch([IncomingCommand(raw) for raw in batch])
    codes = [o.code for o in outcomes]
    assert codes[:3] == [None, "unauthenticated", "unauthenticated"]
    assert codes[3:-1] == [None] * 137
    assert codes[-1] == "unauthenticated"


def test_a_gateway_signs_for_a_principal_who_is_then_held_to_its_own_roles() -> None:
    from payments.domain.command_record import CommandRecord
    from payments.domain.ids import command_id_to_uuid
    from tests.support.signing import register

    app = in_memory_application()
    ledger = Ledger(app)
    gateway = register(app, "api@gateway", frozenset({"gateway"}))
    ops = register(app, "ops@user", frozenset({"operations"}))
    register(app, "ops2@user", frozenset({"operations"}))

    def opening(n: int, actor: str, **extra: Any) -> dict[str, Any]:
        return {
            "command_id": f"via-{n}",
            "type": "open_account",
            "actor": actor,
            "payload": {"account_id": f"via-{n}", "currency": "EUR", "kind": "customer"},
            **extra,
        }

    delegated = gateway.sign(opening(0, "ops@user", on_behalf_of="ops@user"))
    assert ledger.decide(delegated).status == "accepted"
    record = app.load_many([command_id_to_uuid("via-0")])[command_id_to_uuid("via-0")]
    assert isinstance(record, CommandRecord)
    assert (record.actor, record.via) == ("ops@user", "api@gateway")

    transfer = {
        "command_id": "via-t",
        "type": "transfer",
        "actor": "ops@user",
        "on_behalf_of": "ops@user",
        "payload": {
            "transfer_id": "via-t", "from_account": "via-0", "to_account": "x",
            "amount": 1, "currency": "EUR",
        },
    }  # fmt: skip
    assert ledger.decide(gateway.sign(transfer)).code == "forbidden"  # ops may not transfer

    tampered = gateway.sign(opening(1, "ops@user", on_behalf_of="ops@user"))
    tampered |= {"on_behalf_of": "ops2@user", "actor": "ops2@user"}
    not_a_gateway = ops.sign(opening(2, "ops2@user", on_behalf_of="ops2@user"))
    nobody = gateway.sign(opening(3, "ghost@user", on_behalf_of="ghost@user"))
    mismatch = gateway.sign(opening(4, "ops2@user", on_behalf_of="ops@user"))
    for raw, words in (
        (tampered, "does not verify"),
        (not_a_gateway, "may not sign for others"),
        (nobody, "is not a principal"),
        (mismatch, "actor: must be ops@user"),
    ):
        outcome = ledger.decide(raw)
        assert (outcome.code, words in outcome.message) == ("unauthenticated", True), outcome


def test_a_deep_hostile_command_in_a_batch_is_answered_and_the_rest_decided() -> None:
    from tests.support.signing import register

    app = in_memory_application()
    ledger = Ledger(app)
    signer = register(app, "deep@test")
    nested: Any = 1
    for _ in range(600):  # as deep as orjson reads, past Python's recursion if walked so
        nested = [nested]
    deep = {
        "command_id": "deep-1",
        "type": "open_account",
        "actor": "deep@test",
        "payload": {"account_id": "d", "currency": "EUR", "kind": "customer", "nest": nested},
        "key_id": signer.key_id,
        "signature": "A" * 86 + "==",
    }
    good = signer.sign(
        {
            "command_id": "deep-2",
            "type": "open_account",
            "actor": "deep@test",
            "payload": {"account_id": "d2", "currency": "EUR", "kind": "customer"},
        }
    )
    outcomes = ledger.decide_batch([IncomingCommand(deep), IncomingCommand(good)])
    assert [o.code for o in outcomes] == ["invalid_command", None]
    assert "nested" in outcomes[0].message


def test_the_pool_verifies_in_workers_and_says_which_signature_is_bad() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    items = {i: (public, key.sign(b"m%d" % i), b"m%d" % i) for i in range(200)}
    items[150] = (public, items[150][1], b"tampered")
    pending = signature_pool.start(items)
    assert set(pending) == set(items)  # a big batch goes to the workers
    assert [i for i, check in pending.items() if not check.valid()] == [150]
    assert signature_pool.start(dict(list(items.items())[:10])) == {}  # small: inline


def test_a_dead_worker_falls_back_to_inline_verification() -> None:
    import os
    import signal

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    items = {i: (public, key.sign(b"x%d" % i), b"x%d" % i) for i in range(100)}
    assert all(check.valid() for check in signature_pool.start(items).values())  # warm
    pool = signature_pool._executor()
    for pid in list(pool._processes):  # kill -9 the workers
        os.kill(pid, signal.SIGKILL)
    pending = signature_pool.start(items)
    answers = {check.valid() for check in pending.values()}
    assert answers <= {True, None}  # a worker's answer, or none: never a wrong one
    again = signature_pool.start(items)  # a new pool for the next batch
    assert again and all(check.valid() for check in again.values())
