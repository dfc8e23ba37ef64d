"""Projection consumers against the real Kafka broker and PostgreSQL.

Events written by the real domain (EventFactory: commands through an in-memory
Ledger, renumbered with gaps) are published to a unique topic prefix, as the relay
would publish them; the projection tables live in a unique PostgreSQL schema
with its own stand-in `payments_events` (the store's rows: the audit chain's oracle, and
where a version gap is filled from).
The expected tables are recomputed with `verify` from the same event list.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from consumers.loop import ConsumerConfig, ProjectionConsumer
from payments.contract.wire import event_headers
from payments.runtime.settings import Settings
from payments.tools.services import principals
from projections.catalog import APPLIERS, FOLLOWS
from projections.kafka_offsets import end_offsets
from projections.rebuild.source import ListEventSource
from projections.rebuild.verify import verify
from projections.schema import PROJECTIONS, install
from tests.support.consumers import run_loops_until
from tests.support.events import EventFactory, to_wire, url_with_search_path
from tests.support.kafka import auth as kafka_auth
from tests.support.kafka import create_topics, publish, unique_prefix
from tests.support.store_rows import INSERT_ROWS, STAND_IN_DDL, stored_rows

pytestmark = pytest.mark.integration


@dataclass
class Sandbox:
    schema: str
    url: str = field(repr=False)  # carries a password
    prefix: str
    topic: str
    bootstrap: str

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(query.encode(), params)
            return cursor.fetchall() if cursor.description else []

    def publish(self, events: list[dict], *, store: bool = True) -> None:
        """Publish as the relay does (key = aggregate id); `store` records positions."""
        if store:
            with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor() as cur:
                cur.executemany(INSERT_ROWS, stored_rows(events))
        publish(
            self.bootstrap,
            self.topic,
            [(e["aggregate_id"].encode(), to_wire(e), event_headers(e)) for e in events],
        )

    def tables(self) -> dict[str, list[tuple]]:
        names = ["balances", "payments", "settlement_batches", "settlement_items",
                 "merchant_unsettled", "audit_log"]  # fmt: skip
        return {n: self.sql(f"SELECT * FROM {n} ORDER BY 1") for n in names}

    def applied_positions(self) -> int:
        return self.sql("SELECT position FROM audit_chain_head")[0][0]


@pytest.fixture
def sandbox(settings, superuser_database_url) -> Iterator[Sandbox]:
    schema = f"t_consumers_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION payments_app".encode())
    url = url_with_search_path(settings.require_database_url(), schema)
    install(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(STAND_IN_DDL)
    prefix = unique_prefix("proj")
    bootstrap = settings.require_kafka_bootstrap()
    topics = create_topics(bootstrap, prefix)
    yield Sandbox(schema, url, prefix, topics.events, bootstrap)
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def run_consumers_until(
    box: Sandbox, done: Callable[[], bool], timeout: float = 60.0, group: str = "projection"
) -> list[ProjectionConsumer]:
    """Run every projection in a thread (as `consume all` does) until `done()`."""
    configs = [
        ConsumerConfig(
            projection=name,
            apply=APPLIERS[name],
            database_url=box.url,
            bootstrap=box.bootstrap,
            topic=box.topic,
            group=f"{box.prefix}-{group}-{name}",
            max_records=50,  # many small batches: more interleaving to get wrong
            kafka_auth=kafka_auth(),
            follows=FOLLOWS[name],
        )
        for name in PROJECTIONS
    ]
    return run_loops_until(
        configs,
        done,
        timeout,
        explain=lambda: (
            "consumers did not catch up in time",
            box.sql("SELECT * FROM projection_positions ORDER BY 1, 3"),
            box.sql("SELECT * FROM audit_chain_head"),
            _end_offsets(box),
        ),
    )


def caught_up(box: Sandbox, events: list[dict]) -> Callable[[], bool]:
    """All projections have applied every event (audit chained, others positioned)."""
    last = max(e["position"] for e in events)

    def done() -> bool:
        return box.applied_positions() >= last and positioned_at_end(box)

    return done


def positioned_at_end(box: Sandbox) -> bool:
    """Every projection's stored positions are at the topic's end (all records used)."""
    offsets = box.sql("SELECT projection, sum(next_offset) FROM projection_positions GROUP BY 1")
    ends = sum(_end_offsets(box).values())
    return len(offsets) == len(PROJECTIONS) and all(total == ends for _, total in offsets)


def _end_offsets(box: Sandbox) -> dict[int, int]:
    return end_offsets(box.bootstrap, box.topic, kafka_auth())


def business_day(payments: int = 6, position_step: int = 3) -> EventFactory:
    """Transfers, payments with partial captures, refunds, chargebacks, settlements."""
    f = EventFactory(position_step=position_step)  # gaps, as on PostgreSQL
    f.open_account("BANK", kind="external")
    f.open_account("A1", overdraft=1_000)
    f.open_account("B1")
    f.open_account("SHOP", kind="merchant")
    f.open_account("FEES", kind="fees")
    f.open_account("OUT", kind="external")
    f.transfer("top-up", "BANK", "A1", 100_000 + 2_000 * payments)  # enough for every payment
    f.transfer("t-1", "A1", "B1", 2_500)
    for i in range(payments):
        pay = f"pay-{i}"
        f.authorize(pay, "A1", "SHOP", 1_000 + i)
        f.capture(pay, 600 + i)
        if i % 2:
            f.refund(pay, 100)
        if i % 3 == 0:
            f.chargeback(pay, 50)
        if i == payments // 2:
            f.settle("batch-1", "SHOP", "OUT", "FEES", fee_bps=250)
    f.authorize("pay-void", "A1", "SHOP", 300)
    f.void("pay-void", 300)
    f.settle("batch-2", "SHOP", "OUT", "FEES", fee_bps=125)
    f.authorize("pay-open", "A1", "SHOP", 700)
    f.capture("pay-open", 700)  # stays unsettled
    return f


def assert_tables_match(box: Sandbox, events: list[dict]) -> None:
    report = verify(box.url, ListEventSource([dict(e) for e in events]))
    assert report.differences == []
    assert report.audit_rows == len(events)


def test_tables_equal_the_recomputed_ones_after_a_scripted_stream(sandbox):
    f = business_day()
    sandbox.publish(f.events)

    run_consumers_until(sandbox, caught_up(sandbox, f.events))

    assert_tables_match(sandbox, f.events)
    (posted, held, available), = sandbox.sql(
        "SELECT posted, held, available FROM balances WHERE account_id = 'B1'"
    )  # fmt: skip
    assert (posted, held, available) == (2_500, 0, 2_500)
    batch = sandbox.sql("SELECT gross, fees, item_count FROM settlement_batches ORDER BY 1")
    assert len(batch) == 2
    assert sandbox.sql("SELECT count(*) FROM merchant_unsettled") == [(1,)]
    assert sandbox.sql("SELECT sum(posted) FROM balances") == [(0,)]


def test_duplicates_rewinds_and_bad_records_change_nothing(sandbox):
    f = business_day()
    sandbox.publish(f.events)
    run_consumers_until(sandbox, caught_up(sandbox, f.events))
    before = sandbox.tables()

    # The relay re-sends a random tail and then everything (a relay restarted twice),
    # and someone writes garbage on the topic.
    tail = f.events[random.Random(3).randrange(len(f.events)) :]
    sandbox.publish(tail + f.events, store=False)
    publish(sandbox.bootstrap, sandbox.topic, [(b"x", b"{not json"), (b"y", b'{"position": 1}')])
    run_consumers_until(sandbox, caught_up(sandbox, f.events))
    assert sandbox.tables() == before

    # A rewound consumer: stored positions go back to the beginning.
    sandbox.sql("UPDATE projection_positions SET next_offset = 0")
    loops = run_consumers_until(sandbox, caught_up(sandbox, f.events), group="rewound")
    assert sandbox.tables() == before
    assert sum(loop.applied for loop in loops) > 0  # it did read everything again
    # The garbage is quarantined once per projection (the rewind found it there already)
    # and verify lists it until an operator acknowledges it.
    quarantined = sandbox.sql("SELECT projection, reason FROM projection_quarantine ORDER BY 1, 2")
    assert [p for p, _ in quarantined] == sorted(2 * list(PROJECTIONS))
    assert all(reason.startswith("unreadable: ") for _, reason in quarantined)
    assert sum(loop.quarantined for loop in loops) == 0
    sandbox.sql("UPDATE projection_quarantine SET acknowledged_at = now()")
    assert_tables_match(sandbox, f.events)


def test_a_record_is_decoded_by_the_projections_that_follow_its_aggregate_type(sandbox):
    f = business_day()
    sandbox.publish(f.events)
    # Garbage under three headers: a transfer's (only the audit log follows transfers),
    # an account's (balances, settlements and the audit log do) and none (all decode).
    publish(sandbox.bootstrap, sandbox.topic, [
        (b"t", b"{not json: transfer", [("aggregate_type", b"Transfer"), ("position", b"1")]),
        (b"a", b"{not json: account", [("aggregate_type", b"Account"), ("position", b"1")]),
        (b"n", b"{not json: no header"),
    ])  # fmt: skip
    expected = {
        "audit": ["account", "no header", "transfer"],
        "balances": ["account", "no header"],
        "settlements": ["account", "no header"],
        "principals": ["no header"],
    }

    def quarantined() -> dict[str, list[str]]:
        rows = sandbox.sql("SELECT projection, value FROM projection_quarantine ORDER BY 1, 2")
        found: dict[str, list[str]] = {}
        for projection, value in rows:
            found.setdefault(projection, []).append(bytes(value).decode().split(": ")[1])
        return found

    loops = run_consumers_until(
        sandbox, lambda: caught_up(sandbox, f.events)() and quarantined() == expected
    )
    sandbox.sql("UPDATE projection_quarantine SET acknowledged_at = now()")  # an operator's
    assert_tables_match(sandbox, f.events)
    passed = {loop.config.projection: loop.passed_over for loop in loops}

    def unfollowed(name: str) -> int:
        return sum(e["aggregate_type"].encode() not in FOLLOWS[name] for e in f.events)  # type: ignore[operator]

    assert passed["audit"] == 0
    assert passed["principals"] == unfollowed("principals") + 2  # and both headed garbages
    assert passed["balances"] == unfollowed("balances") + 1  # and the Transfer-headed one
    assert passed["settlements"] == unfollowed("settlements") + 1
    assert 0 < unfollowed("balances") < unfollowed("principals") < len(f.events)


def test_events_out_of_position_order_across_partitions_chain_in_order(sandbox):
    f = business_day()
    # Publish aggregates in reverse order of first appearance: per-aggregate order is
    # kept (as Kafka does per key), global order is not.
    by_aggregate: dict[str, list[dict]] = {}
    for event in f.events:
        by_aggregate.setdefault(event["aggregate_id"], []).append(event)
    shuffled = [e for group in reversed(list(by_aggregate.values())) for e in group]
    sandbox.publish(shuffled)

    run_consumers_until(sandbox, caught_up(sandbox, f.events))

    positions = [p for (p,) in sandbox.sql("SELECT position FROM audit_log ORDER BY position")]
    assert positions == [e["position"] for e in f.events]
    assert sandbox.sql("SELECT count(*) FROM audit_staging") == [(0,)]
    assert_tables_match(sandbox, f.events)


def test_kill_9_mid_stream_then_restart_loses_and_doubles_nothing(sandbox, tmp_path: Path):
    f = business_day(payments=400)
    sandbox.publish(f.events)
    env = dict(os.environ)
    env.update(
        PAYMENTS_DATABASE_URL=sandbox.url,
        PAYMENTS_TOPIC_PREFIX=sandbox.prefix,
        PAYMENTS_LOG_FORMAT="json",
        PAYMENTS_LOG_LEVEL="info",
    )
    env.update(principals.role_env(Settings(), "projections"))  # its own principal
    log_path = tmp_path / "consume.log"

    def start() -> subprocess.Popen:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "payments.cli", "consume", "all"],
                env=env,
                stdout=log,
                stderr=log,
            )

    first = start()
    try:
        deadline = time.monotonic() + 60
        while sandbox.sql("SELECT count(*) FROM projection_positions") == [(0,)]:
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert sandbox.applied_positions() < f.events[-1]["position"], "killed too late to test"

    second = start()
    try:
        done = caught_up(sandbox, f.events)
        deadline = time.monotonic() + 120
        while not done():
            assert second.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "restarted consumers did not catch up"
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0  # SIGTERM: finish the batch, exit 0
    assert_tables_match(sandbox, f.events)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "consumer.stopped" for line in lines)


def test_a_lost_database_connection_is_retried_and_nothing_is_lost(sandbox, superuser_database_url):
    f = business_day(payments=150)
    first_half = len(f.events) // 2
    sandbox.publish(f.events[:first_half])
    killed = []

    def cut_connections_then_publish_the_rest() -> bool:
        if not killed and sandbox.applied_positions() > 0:
            with psycopg.connect(superuser_database_url, autocommit=True) as conn:
                killed.extend(
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name LIKE %s",
                        (f"{sandbox.prefix}-%",),
                    ).fetchall()
                )
            sandbox.publish(f.events[first_half:])
        return bool(killed) and caught_up(sandbox, f.events)()

    run_consumers_until(sandbox, cut_connections_then_publish_the_rest, timeout=120)

    assert len(killed) >= 3  # every projection lost its connection at least once
    assert_tables_match(sandbox, f.events)


def test_replay_while_consumers_run_hands_over_without_loss(sandbox):
    from projections.rebuild.replay import replay

    f = business_day(payments=60)
    half = len(f.events) // 2
    first, second = f.events[:half], f.events[half:]
    sandbox.publish(first)
    stop = threading.Event()
    loops = [
        ProjectionConsumer(
            ConsumerConfig(
                name, APPLIERS[name], sandbox.url, sandbox.bootstrap, sandbox.topic,
                f"{sandbox.prefix}-live-{name}", max_records=5, kafka_auth=kafka_auth(),
            ),
            stop,
        )
        for name in PROJECTIONS
    ]  # fmt: skip
    threads = [threading.Thread(target=loop.run) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while not sandbox.sql("SELECT 1 FROM projection_positions LIMIT 1"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The store "holds" the first half; rebuild everything while the consumers,
        # in small batches, are still on their way through it.
        result = replay(
            sandbox.url,
            ListEventSource([dict(e) for e in first]),
            sandbox.topic,
            PROJECTIONS,
            lambda: _end_offsets(sandbox),
        )
        assert result.events == len(first)
        # Then the relay re-sends a bit of the past and publishes the rest.
        sandbox.publish(first[-10:] + second)
        deadline = time.monotonic() + 60
        while not caught_up(sandbox, f.events)():
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert sum(loop.resyncs for loop in loops) >= 1  # someone was moved on by the replay
    assert_tables_match(sandbox, f.events)
