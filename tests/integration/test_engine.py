"""The engine through real Kafka and PostgreSQL: outcomes, replays, crashes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from payments.runtime.settings import Settings
from tests.support.engine import EngineProcess, client_env, engine_env, relay_from_now_on
from tests.support.kafka import (
    create_topics,
    envelope_record,
    outcomes_by_command,
    publish,
    read_topic,
    unique_prefix,
)
from tests.support.signing import signed_ledger

pytestmark = pytest.mark.integration


def command(command_id: str, type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": command_id, "type": type_, "actor": "test@engine", "payload": payload}


def shop_day(run: str) -> list[dict[str, Any]]:
    """A small day of business, with rejections, in the order a client sends it."""
    alice, shop, bank, fees, payout = (
        f"{name}-{run}" for name in ("alice", "shop", "bank", "fees", "payout")
    )
    pay = f"pay-{run}"
    return [
        command(f"{run}-1", "open_account", account_id=bank, currency="EUR", kind="external"),
        command(f"{run}-2", "open_account", account_id=alice, currency="EUR", kind="customer"),
        command(f"{run}-3", "open_account", account_id=shop, currency="EUR", kind="merchant"),
        command(f"{run}-4", "open_account", account_id=fees, currency="EUR", kind="fees"),
        command(f"{run}-5", "open_account", account_id=payout, currency="EUR", kind="external"),
        command(
            f"{run}-6",
            "transfer",
            transfer_id=f"top-{run}",
            from_account=bank,
            to_account=alice,
            amount=10_000,
            currency="EUR",
        ),
        command(
            f"{run}-7",
            "transfer",
            transfer_id=f"over-{run}",
            from_account=alice,
            to_account=bank,
            amount=50_000,
            currency="EUR",
        ),  # insufficient_funds
        command(
            f"{run}-8",
            "authorize_payment",
            payment_id=pay,
            payer_account=alice,
            merchant_account=shop,
            amount=4_000,
            currency="EUR",
        ),
        command(f"{run}-9", "capture_payment", payment_id=pay, amount=3_000),
        command(f"{run}-10", "refund_payment", payment_id=pay, amount=500),
        command(f"{run}-11", "capture_payment", payment_id=pay, amount=2_000),  # exceeds
        command(
            f"{run}-12",
            "settle_merchant",
            batch_id=f"b-{run}",
            merchant_account=shop,
            payout_account=payout,
            fees_account=fees,
            fee_bps=250,
        ),
        command(
            f"{run}-13",
            "transfer",
            transfer_id=f"eur-usd-{run}",
            from_account=alice,
            to_account=bank,
            amount=1.5,
            currency="EUR",
        ),  # invalid_amount
        command(f"{run}-14", "close_account", account_id=f"ghost-{run}"),  # not found
    ]


@pytest.fixture
def stream(settings: Settings, tmp_path: Path):
    """A fresh topic prefix and engine group; yields a starter for engine processes."""
    bootstrap = settings.require_kafka_bootstrap()
    prefix = unique_prefix("engine")
    topics = create_topics(bootstrap, prefix)
    relay_from_now_on(settings, topics.events)
    env = engine_env(settings, prefix, f"{prefix}-group")
    engines: list[EngineProcess] = []

    def start(*args: str) -> EngineProcess:
        engine = EngineProcess(env, tmp_path / f"engine-{len(engines)}.log", *args)
        engines.append(engine)
        return engine

    yield bootstrap, topics, start
    for engine in engines:
        if engine.alive():
            engine.kill9()


def wait_outcomes(bootstrap: str, topic: str, ids: set[str], timeout: float = 90.0) -> dict:
    records = read_topic(
        bootstrap, topic, lambda rs: ids <= outcomes_by_command(rs).keys(), timeout=timeout
    )
    return outcomes_by_command(records)


def in_memory_outcomes(commands: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    from payments.ledger.store import in_memory_application

    ledger = signed_ledger(in_memory_application())
    return {
        c["command_id"]: (o.status, o.code)
        for c in commands
        for o in [ledger.decide(json.loads(json.dumps(c)))]
    }


def test_outcomes_through_kafka_equal_the_ledger_called_directly(stream) -> None:
    bootstrap, topics, start = stream
    commands = shop_day(uuid.uuid4().hex[:6])
    start()
    publish(bootstrap, topics.commands, [envelope_record(c, key="day") for c in commands])
    outcomes = wait_outcomes(bootstrap, topics.command_results, {c["command_id"] for c in commands})

    expected = in_memory_outcomes(commands)
    got = {cid: (found[0]["status"], found[0]["code"]) for cid, found in outcomes.items()}
    assert got == expected
    assert all(len(found) == 1 and not found[0]["replayed"] for found in outcomes.values())


def test_duplicate_deliveries_replay_outcomes_and_apply_nothing(stream) -> None:
    bootstrap, topics, start = stream
    commands = shop_day(uuid.uuid4().hex[:6])
    ids = {c["command_id"] for c in commands}
    start()
    records = [envelope_record(c, key="day") for c in commands]
    publish(bootstrap, topics.commands, records)
    wait_outcomes(bootstrap, topics.command_results, ids)
    publish(bootstrap, topics.commands, records)  # the client retries everything

    def twice(rs: list[Any]) -> bool:
        found = outcomes_by_command(rs)
        return all(len(found.get(i, [])) >= 2 for i in ids)

    outcomes = outcomes_by_command(read_topic(bootstrap, topics.command_results, twice, 90))
    for command_id, (first, second, *rest) in outcomes.items():
        assert not rest, command_id
        assert not first["replayed"] and second["replayed"]
        assert (first["status"], first["code"]) == (second["status"], second["code"])

    # Each stored event reached the events topic; replays stored nothing new.
    events = events_of(bootstrap, topics.events, ids)
    versions = [(e["aggregate_id"], e["aggregate_version"]) for e in events]
    assert len(versions) == len(set(versions))


def test_a_stopped_engine_has_committed_every_offset_it_answered(stream) -> None:
    """Offsets are committed without waiting during the run; the last commit, at a
    polite stop, is synchronous: a restarted engine reads nothing of what was answered."""
    from kafka import KafkaConsumer, TopicPartition

    from tests.support.kafka import auth

    bootstrap, topics, start = stream
    commands = shop_day(uuid.uuid4().hex[:6])
    engine = start()
    publish(bootstrap, topics.commands, [envelope_record(c, key="day") for c in commands])
    wait_outcomes(bootstrap, topics.command_results, {c["command_id"] for c in commands})
    assert engine.stop() == 0

    # A reader of the engine's group that never joins it: it only asks what was committed.
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=engine_group_of(stream), **auth())
    try:
        partitions = [
            TopicPartition(topics.commands, p)
            for p in sorted(reader.partitions_for_topic(topics.commands) or ())
        ]
        written = {tp: end for tp, end in reader.end_offsets(partitions).items() if end > 0}
        committed = {tp: reader.committed(tp) for tp in written}
    finally:
        reader.close()
    assert written, "the commands went somewhere"
    assert committed == written


def engine_group_of(stream: Any) -> str:
    _bootstrap, topics, _start = stream
    return f"{topics.commands.removesuffix('.commands')}-group"  # as the fixture names it


def events_of(
    bootstrap: str,
    topic: str,
    command_ids: set[str],
    complete: Callable[[list[dict[str, Any]]], bool] | None = None,
    quiet_seconds: float = 3.0,
) -> list[dict[str, Any]]:
    """The events caused by these commands: once `complete` says so, or once the
    topic has been quiet for a while when there is nothing precise to wait for."""
    sizes: list[int] = []
    window = int(quiet_seconds / 0.2)

    def ours(records: list[Any]) -> list[dict[str, Any]]:
        decoded = (json.loads(r.value) for r in records)
        return [e for e in decoded if e["command_id"] in command_ids]

    def done(records: list[Any]) -> bool:
        if complete is not None:
            return complete(ours(records))
        sizes.append(len(records))
        return len(sizes) > window and sizes[-1] == sizes[-window] > 0

    return ours(read_topic(bootstrap, topic, done, timeout=120))


def transfers_recorded(expected: int) -> Callable[[list[dict[str, Any]]], bool]:
    """Complete once every transfer's record and its credit have been read: they are
    keyed by different aggregates, so they arrive on different partitions."""

    def complete(events: list[dict[str, Any]]) -> bool:
        credits = {
            (e["aggregate_id"], e["aggregate_version"])
            for e in events
            if e["event_type"] == "Account.Credited"
        }
        transfers = {
            e["payload"]["transfer_id"] for e in events if e["event_type"] == "Transfer.Recorded"
        }
        return len(credits) >= expected and len(transfers) >= expected

    return complete


def test_malformed_records_go_where_the_contract_says(stream) -> None:
    bootstrap, topics, start = stream
    run = uuid.uuid4().hex[:6]
    good = command(
        f"{run}-ok", "open_account", account_id=f"ok-{run}", currency="EUR", kind="customer"
    )
    bad_type = command(f"{run}-type", "teleport_money", amount=1)
    bad_field = command(
        f"{run}-field",
        "open_account",
        account_id="no spaces allowed",
        currency="EUR",
        kind="customer",
    )
    # Just under the broker's default limit (1 MiB including the batch overhead).
    huge = b'{"note": "' + b"x" * 1_000_000 + b'"}'
    malformed = [
        (b"k", b"not json at all"),
        (b"k", b"[1, 2, 3]"),
        (b"k", b'{"type": "transfer"}'),
        (b"k", b"\xff\xfe garbage"),
        (b"k", b"[" * 100_000 + b"]" * 100_000),
        (b"k", huge),
        (b"k", None),
    ]
    start()
    publish(
        bootstrap,
        topics.commands,
        [*malformed, envelope_record(bad_type), envelope_record(bad_field), envelope_record(good)],
    )
    outcomes = wait_outcomes(
        bootstrap,
        topics.command_results,
        {good["command_id"], bad_type["command_id"], bad_field["command_id"]},
    )
    assert outcomes[good["command_id"]][0]["status"] == "accepted"
    assert outcomes[bad_type["command_id"]][0]["code"] == "unknown_command_type"
    assert outcomes[bad_field["command_id"]][0]["code"] == "invalid_command"
    assert "account_id" in outcomes[bad_field["command_id"]][0]["message"]

    letters = [
        json.loads(r.value)
        for r in read_topic(bootstrap, topics.commands_dlq, lambda rs: len(rs) >= 7, 60)
    ]
    assert len(letters) == len(malformed)
    assert {letter["source_offset"] for letter in letters} == set(range(len(malformed)))
    assert all(letter["reason"] for letter in letters)


def test_kill_9_mid_stream_then_restart_applies_each_command_once(stream) -> None:
    bootstrap, topics, start = stream
    run = uuid.uuid4().hex[:6]
    accounts = [f"acc{i}-{run}" for i in range(6)]
    bank = f"bank-{run}"
    commands = [
        command(
            f"{run}-open-bank", "open_account", account_id=bank, currency="EUR", kind="external"
        )
    ]
    commands += [
        command(f"{run}-open-{a}", "open_account", account_id=a, currency="EUR", kind="customer")
        for a in accounts
    ]
    commands += [
        command(
            f"{run}-t{i}",
            "transfer",
            transfer_id=f"tr{i}-{run}",
            from_account=bank,
            to_account=accounts[i % len(accounts)],
            amount=100 + i,
            currency="EUR",
        )
        for i in range(3000)
    ]
    ids = {c["command_id"] for c in commands}
    engine = start()
    # Accounts first: transfers on other partitions must not overtake their opening.
    publish(bootstrap, topics.commands, [envelope_record(c) for c in commands[:7]])
    wait_outcomes(bootstrap, topics.command_results, {c["command_id"] for c in commands[:7]})
    publish(
        bootstrap, topics.commands, [envelope_record(c, key=c["command_id"]) for c in commands[7:]]
    )
    # Kill it while it works through the stream, several times.
    for pause in (1.5, 0.7, 1.1):
        time.sleep(pause)
        engine.kill9()
        engine = start()
    outcomes = wait_outcomes(bootstrap, topics.command_results, ids, timeout=180)
    events = events_of(bootstrap, topics.events, ids, transfers_recorded(3000))
    assert engine.stop() == 0

    assert ids <= outcomes.keys()
    first = {cid: found[0] for cid, found in outcomes.items() if cid in ids}
    assert all(o["status"] == "accepted" for o in first.values()), [
        o for o in first.values() if o["status"] != "accepted"
    ][:3]
    transfers = [e for e in events if e["event_type"] == "Transfer.Recorded"]
    assert len({e["payload"]["transfer_id"] for e in transfers}) == 3000
    credited = {}
    for e in events:
        if e["event_type"] == "Account.Credited":
            key = (e["aggregate_id"], e["aggregate_version"])
            credited[key] = e["payload"]["amount"]
    assert sum(credited.values()) == sum(100 + i for i in range(3000))


def test_two_engines_share_the_stream_through_a_rebalance(stream) -> None:
    bootstrap, topics, start = stream
    run = uuid.uuid4().hex[:6]
    bank, shop = f"bank-{run}", f"hot-{run}"
    setup = [
        command(f"{run}-b", "open_account", account_id=bank, currency="EUR", kind="external"),
        command(f"{run}-s", "open_account", account_id=shop, currency="EUR", kind="customer"),
    ]
    transfers = [
        command(
            f"{run}-t{i}",
            "transfer",
            transfer_id=f"x{i}-{run}",
            from_account=bank,
            to_account=shop,
            amount=7,
            currency="EUR",
        )
        for i in range(2000)
    ]
    first = start()
    publish(bootstrap, topics.commands, [envelope_record(c, key="setup") for c in setup])
    wait_outcomes(bootstrap, topics.command_results, {c["command_id"] for c in setup})
    # Different keys: the hot account is written from every partition at once.
    publish(
        bootstrap, topics.commands, [envelope_record(c, key=c["command_id"]) for c in transfers]
    )
    time.sleep(1.0)
    second = start()  # joins the group: partitions move mid-stream
    ids = {c["command_id"] for c in transfers}
    outcomes = wait_outcomes(bootstrap, topics.command_results, ids, timeout=180)
    events = events_of(bootstrap, topics.events, ids, transfers_recorded(2000))
    assert first.stop() == 0
    assert second.stop() == 0
    assert all(found[0]["status"] == "accepted" for cid, found in outcomes.items() if cid in ids)
    credits = {
        (e["aggregate_id"], e["aggregate_version"]): e["payload"]["amount"]
        for e in events
        if e["event_type"] == "Account.Credited"
    }
    assert sum(credits.values()) == 7 * 2000


def test_send_prints_each_outcome_and_fails_on_a_rejection(stream, settings: Settings) -> None:
    _, topics, start = stream
    run = uuid.uuid4().hex[:6]
    lines = [
        command(f"{run}-a", "open_account", account_id=f"s-{run}", currency="EUR", kind="fees"),
        command(f"{run}-b", "open_account", account_id=f"s-{run}", currency="EUR", kind="fees"),
    ]
    start()
    prefix = topics.commands.removesuffix(".commands")
    sent = subprocess.run(
        [sys.executable, "-m", "payments.cli", "send", "--json", "--timeout", "90"],
        input="\n".join(json.dumps(line) for line in lines) + "\nnot json\n",
        capture_output=True,
        text=True,
        env=client_env(settings, prefix),
        timeout=120,
    )
    printed = [json.loads(line) for line in sent.stdout.splitlines()]
    assert [(o["command_id"], o["status"], o["code"]) for o in printed] == [
        (f"{run}-a", "accepted", None),
        (f"{run}-b", "rejected", "account_exists"),
    ]
    assert "not a command envelope" in sent.stderr
    assert sent.returncode == 1


def test_send_in_order_decides_a_file_in_file_order(stream, settings: Settings) -> None:
    """Accounts opened, then money moved between them: with --in-order (the default)
    every line shares one partition, so no transfer ever runs before its accounts."""
    bootstrap, topics, start = stream
    run = uuid.uuid4().hex[:6]
    accounts = [f"io-{run}-{n}" for n in range(8)]
    lines = [command(f"{run}-open-bank", "open_account", account_id=f"io-{run}-bank",
                     currency="EUR", kind="external")]  # fmt: skip
    for n, account in enumerate(accounts):
        lines.append(command(f"{run}-open-{n}", "open_account", account_id=account,
                             currency="EUR", kind="customer"))  # fmt: skip
        lines.append(command(f"{run}-fund-{n}", "transfer", transfer_id=f"{run}-f{n}",
                             from_account=f"io-{run}-bank", to_account=account, amount=100,
                             currency="EUR"))  # fmt: skip
    start()
    prefix = topics.commands.removesuffix(".commands")
    sent = subprocess.run(
        [sys.executable, "-m", "payments.cli", "send", "--json", "--timeout", "90", "--in-order"],
        input="\n".join(json.dumps(line) for line in lines) + "\n",
        capture_output=True,
        text=True,
        env=client_env(settings, prefix),
        timeout=120,
    )
    printed = [json.loads(line) for line in sent.stdout.splitlines()]
    assert [(o["command_id"], o["status"]) for o in printed] == [
        (line["command_id"], "accepted") for line in lines
    ], sent.stderr
    assert sent.returncode == 0
    ours = [
        r
        for r in read_topic(bootstrap, topics.commands, lambda rs: len(rs) >= len(lines))
        if json.loads(r.value)["command_id"].startswith(run)
    ]
    assert len({r.partition for r in ours}) == 1  # one key, one partition
    assert [json.loads(r.value)["command_id"] for r in sorted(ours, key=lambda r: r.offset)] == [
        line["command_id"] for line in lines
    ]
