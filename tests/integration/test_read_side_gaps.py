"""Reordered, duplicated and missing deliveries: the read models still end right.

A stream is delivered as it goes wrong in production: an aggregate's later events on
a new partition, read before its earlier ones (partitions were added); records never
delivered (skipped as unreadable, or past retention); re-sends. The consumers must
fill every hole from the event store (`projections.gaps`, the audit log's fill) and
end equal to a fold of the whole stream, checked by `verify`.

Two stores: the sandbox's stand-in `payments_events` (rows of domain-made events, as
the ledger stores them) for all three projections; and the real event store, written
by the real `Ledger` on PostgreSQL, for balances and settlements.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from kafka import KafkaProducer

from consumers.loop import ConsumerConfig, ProjectionConsumer
from consumers.runner import FILLS
from payments.ledger import schema as ledger_schema
from payments.ledger.service import Ledger
from payments.ledger.store import open_application
from payments.runtime.settings import Settings
from projections.catalog import APPLIERS
from projections.kafka_offsets import end_offsets
from projections.rebuild.source import ListEventSource, StoreEventSource
from projections.rebuild.verify import verify
from projections.schema import PROJECTIONS, install
from tests.integration.test_consumers import Sandbox, business_day, sandbox  # noqa: F401
from tests.support.consumers import run_loops_until
from tests.support.events import to_wire, url_with_search_path
from tests.support.kafka import auth as kafka_auth
from tests.support.kafka import create_topics, unique_prefix
from tests.support.signing import signed_ledger
from tests.support.store_rows import INSERT_ROWS, stored_rows

pytestmark = pytest.mark.integration
PARTITIONS = 4  # tests/support/kafka.py TEST_PARTITIONS["events"]


def hostile_delivery(events: list[dict], seed: int = 7) -> tuple[list[tuple], set[int]]:
    """(partition, key, event) records to send, in order, and the positions never sent.

    Every aggregate has a home partition; aggregates with many events move to the next
    partition from their middle version on, and that part is sent first (partitions
    added: the new partition is read ahead of the old one). Every 5th event that has a
    later one of its aggregate is never sent; every 4th is sent twice.
    """
    by_aggregate: dict[str, list[dict]] = {}
    for event in events:
        by_aggregate.setdefault(event["aggregate_id"], []).append(event)
    lost: set[int] = set()
    for i, event in enumerate(events):
        later = by_aggregate[event["aggregate_id"]][-1] is not event
        if i % 5 == seed % 5 and later:
            lost.add(event["position"])
    moved_first: list[tuple] = []
    rest: list[tuple] = []
    for n, (aggregate_id, group) in enumerate(by_aggregate.items()):
        home = n % PARTITIONS
        split = len(group) // 2 if len(group) >= 6 else len(group)
        for v, event in enumerate(group):
            if event["position"] in lost:
                continue
            moved = v >= split
            record = ((home + 1) % PARTITIONS if moved else home, aggregate_id, event)
            (moved_first if moved else rest).append(record)
            if v % 4 == 1:  # a re-send, later in the same partition
                (moved_first if moved else rest).append(record)
    return moved_first + rest, lost


def send(bootstrap: str, topic: str, records: list[tuple]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **kafka_auth())
    try:
        futures = [
            producer.send(topic, key=key.encode(), value=to_wire(event), partition=partition)
            for partition, key, event in records
        ]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=0)
    finally:
        producer.close(timeout=5)


def run_until(
    url: str,
    bootstrap: str,
    topic: str,
    prefix: str,
    projections: tuple[str, ...],
    done: Callable[[], bool],
    timeout: float = 90.0,
) -> list[ProjectionConsumer]:
    """The projections' consumers as `consume all` builds them (with the audit fill)."""
    configs = [
        ConsumerConfig(
            projection=name,
            apply=APPLIERS[name],
            database_url=url,
            bootstrap=bootstrap,
            topic=topic,
            group=f"{prefix}-gaps-{name}",
            max_records=20,
            fill=FILLS.get(name),
            fill_every=0.5,
            kafka_auth=kafka_auth(),
        )
        for name in projections
    ]
    return run_loops_until(configs, done, timeout)


def positions_at_end(url: str, bootstrap: str, topic: str, projections: tuple[str, ...]) -> bool:
    ends = sum(end_offsets(bootstrap, topic, kafka_auth()).values())
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT projection, sum(next_offset) FROM projection_positions GROUP BY 1"
        ).fetchall()
    return len(rows) == len(projections) and all(total == ends for _, total in rows)


def test_reordered_duplicated_and_missing_deliveries_end_right(sandbox: Sandbox) -> None:  # noqa: F811
    f = business_day(payments=10)
    events = f.events
    with psycopg.connect(sandbox.url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(INSERT_ROWS, stored_rows(events))  # the store holds everything
    records, lost = hostile_delivery(events)
    assert len(lost) >= 10
    # The hostile part really happens: some aggregate's later version is sent first.
    first_seen: dict[str, int] = {}
    assert any(
        first_seen.setdefault(e["aggregate_id"], e["aggregate_version"]) > 1 for _, _, e in records
    )
    send(sandbox.bootstrap, sandbox.topic, records)
    last = events[-1]["position"]
    projections = PROJECTIONS

    def done() -> bool:
        return sandbox.applied_positions() == last and positions_at_end(
            sandbox.url, sandbox.bootstrap, sandbox.topic, projections
        )

    loops = run_until(
        sandbox.url, sandbox.bootstrap, sandbox.topic, sandbox.prefix, projections, done
    )

    report = verify(sandbox.url, ListEventSource([dict(e) for e in events]))
    assert report.differences == []
    assert report.audit_rows == len(events)
    assert sandbox.sql("SELECT count(*) FROM audit_staging") == [(0,)]
    assert sandbox.sql("SELECT count(*) FROM projection_quarantine") == [(0,)]
    assert sum(loop.quarantined for loop in loops) == 0
    # The lost events are in the tables all the same: the one transfer to B1.
    assert sandbox.sql("SELECT posted FROM balances WHERE account_id = 'B1'") == [(2_500,)]


# --- the real event store, written by the real ledger --------------------------------


class Story:
    """Commands with this test's tag on every id, decided by the real Ledger."""

    def __init__(self, ledger: Ledger, tag: str) -> None:
        self.ledger = ledger
        self.tag = tag
        self.count = 0

    def id(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def send(self, command_type: str, **payload: Any) -> None:
        self.count += 1
        outcome = self.ledger.decide(
            {
                "command_id": self.id(f"c{self.count}"),
                "type": command_type,
                "actor": "it@test",
                "payload": payload,
            }
        )
        assert outcome.status == "accepted", (command_type, payload, outcome)

    def open(self, name: str, kind: str = "customer") -> None:
        self.send("open_account", account_id=self.id(name), currency="EUR", kind=kind,
                  overdraft_limit=0)  # fmt: skip

    def transfer(self, name: str, source: str, target: str, amount: int) -> None:
        self.send("transfer", transfer_id=self.id(name), from_account=self.id(source),
                  to_account=self.id(target), amount=amount, currency="EUR")  # fmt: skip

    def pay(self, name: str, payer: str, merchant: str, amount: int, refund: int = 0) -> None:
        self.send("authorize_payment", payment_id=self.id(name), payer_account=self.id(payer),
                  merchant_account=self.id(merchant), amount=amount, currency="EUR")  # fmt: skip
        self.send("capture_payment", payment_id=self.id(name), amount=amount)
        if refund:
            self.send("refund_payment", payment_id=self.id(name), amount=refund)


@pytest.fixture
def store_sandbox(
    settings: Settings, superuser_database_url: str
) -> Iterator[tuple[str, str, str]]:
    """(url, topic, prefix): projection tables in a fresh schema; `payments_events` is
    the real event store (public), found through the search path."""
    ledger_schema.install(settings.require_admin_database_url(), settings.require_database_url())
    schema = f"t_gaps_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION payments_app".encode())
    url = url_with_search_path(settings.require_database_url(), schema, "public")
    install(url)
    prefix = unique_prefix("gaps")
    topics = create_topics(settings.require_kafka_bootstrap(), prefix)
    yield url, topics.events, prefix
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def test_missing_versions_are_read_from_the_real_event_store(
    settings: Settings, store_sandbox: tuple[str, str, str]
) -> None:
    url, topic, prefix = store_sandbox
    bootstrap = settings.require_kafka_bootstrap()
    app = open_application(settings)
    source = StoreEventSource(settings, app)
    try:
        before = source.max_position()
        s = Story(signed_ledger(app), uuid.uuid4().hex[:10])
        s.open("bank", "external")
        s.open("payer")
        s.open("shop", "merchant")
        s.open("fees", "fees")
        s.open("out", "external")
        s.transfer("top-up", "bank", "payer", 50_000)
        for i in range(8):
            s.pay(f"p{i}", "payer", "shop", 1_000 + i, refund=100 if i % 3 == 0 else 0)
            if i == 4:
                s.send("settle_merchant", batch_id=s.id("b1"), merchant_account=s.id("shop"),
                       payout_account=s.id("out"), fees_account=s.id("fees"),
                       fee_bps=200)  # fmt: skip
        s.transfer("back", "payer", "bank", 777)
        after = source.max_position()
        # Other tests may write to the shared store meanwhile: keep this story's events.
        mine = [
            e
            for page in source.pages(before, after)
            for e in page
            if (e.get("command_id") or "").startswith(s.tag)
        ]
    finally:
        app.close()
    records, lost = hostile_delivery(mine, seed=2)
    assert any(e["aggregate_type"] == "Account" for e in mine if e["position"] in lost)
    send(bootstrap, topic, records)
    projections = ("balances", "settlements")

    run_until(
        url, bootstrap, topic, prefix, projections,
        lambda: positions_at_end(url, bootstrap, topic, projections),
    )  # fmt: skip

    report = verify(url, ListEventSource([dict(e) for e in mine]))
    assert report.differences == []
    with psycopg.connect(url, autocommit=True) as conn:
        posted = conn.execute(
            "SELECT posted FROM balances WHERE account_id = %s", (s.id("bank"),)
        ).fetchall()
        quarantined = conn.execute("SELECT count(*) FROM projection_quarantine").fetchall()
    assert posted == [(-50_000 + 777,)]
    assert quarantined == [(0,)]
