"""Replay, verify and history on the real event store (written by the real Ledger).

A business day is decided by the write side into the shared `payments_events`; the
tests then work on a copy of that table in a unique schema, so tampering with a
stored event (the point of some tests) never touches what other tests read.
Incremental tables come from the consumers reading the relay's messages
(`payments.wire.event_message`) from a unique topic.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from consumers.loop import ConsumerConfig, ProjectionConsumer
from payments.domain import ids
from payments.ledger.identities import issue_api_key, revoke_api_key
from payments.ledger.store import PaymentsApplication, application_env, open_application
from projections.catalog import APPLIERS
from projections.rebuild.history import account_history
from projections.rebuild.replay import replay
from projections.rebuild.source import StoreEventSource
from projections.rebuild.verify import verify
from projections.schema import PROJECTIONS, install
from tests.support.events import to_wire, url_with_search_path
from tests.support.kafka import auth as kafka_auth
from tests.support.kafka import create_topics, publish, unique_prefix
from tests.support.signing import signed_ledger

pytestmark = pytest.mark.integration

TABLES = (
    *("balances", "payments", "settlement_batches", "settlement_items"),
    *("merchant_unsettled", "settlement_merchants", "audit_log", "audit_chain_head"),
    *("principals", "api_keys", "disputes", "dispute_timeline"),
)
DUE = "2099-01-01T00:00:00Z"


@dataclass
class Story:
    run: str
    accounts: dict[str, str]
    midday: datetime  # a time between two commands: after the top-up, before payments
    aggregate_ids: list[uuid.UUID]
    api_key_prefix: str


def command(run: str, n: int, type_: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": f"{run}-{n}", "type": type_, "actor": "test@replay", "payload": payload}


def business_day(run: str) -> tuple[dict[str, str], list[dict[str, Any]], int]:
    """Accounts, commands, and how many commands come before midday."""
    names = ("bank", "alice", "shop", "fees", "payout", "disputes")
    acc = {name: f"{name}-{run}" for name in names}
    kinds = {
        "bank": "external",
        "alice": "customer",
        "shop": "merchant",
        "fees": "fees",
        "payout": "external",
        "disputes": "external",
    }
    commands = [
        command(run, i, "open_account", account_id=acc[n], currency="EUR", kind=kinds[n])
        for i, n in enumerate(acc)
    ]
    commands.append(
        command(
            run,
            10,
            "transfer",
            transfer_id=f"top-{run}",
            from_account=acc["bank"],
            to_account=acc["alice"],
            amount=10_000,
            currency="EUR",
        )
    )
    first_half = len(commands)
    for i in range(3):
        pay = f"pay-{run}-{i}"
        commands += [
            command(
                run,
                20 + 10 * i,
                "authorize_payment",
                payment_id=pay,
                payer_account=acc["alice"],
                merchant_account=acc["shop"],
                amount=1_500,
                currency="EUR",
            ),
            command(run, 21 + 10 * i, "capture_payment", payment_id=pay, amount=1_000 + i),
            command(run, 22 + 10 * i, "refund_payment", payment_id=pay, amount=100),
        ]
    # pay-2 (1002 captured, 100 refunded): a dispute of 300 with a fee of 50, contested
    # and won by two people; pay-0: a dispute of 200, accepted (lost).
    dispute = {"payment_id": f"pay-{run}-2", "amount": 300, "reason_code": "13.1",
               "network": "visa", "evidence_due_by": DUE, "disputes_account": acc["disputes"],
               "fee": 50, "fees_account": acc["fees"]}  # fmt: skip
    won, lost = f"dp-{run}-won", f"dp-{run}-lost"
    commands += [
        command(run, 50, "open_dispute", dispute_id=won, **dispute),
        command(run, 51, "submit_dispute_evidence", dispute_id=won, text="delivered"),
        command(run, 52, "propose_dispute_resolution", dispute_id=won, outcome="won", note="ok"),
        {
            **command(run, 53, "approve_dispute_resolution", dispute_id=won, outcome="won"),
            "actor": "reviewer@replay",
        },
        command(
            run,
            54,
            "open_dispute",
            dispute_id=lost,
            **{**dispute, "payment_id": f"pay-{run}-0", "amount": 200, "fee": 0},
        ),
        command(run, 55, "accept_dispute", dispute_id=lost),
    ]
    commands += [
        command(run, 60, "chargeback_payment", payment_id=f"pay-{run}-0", amount=50, reason="x"),
        command(run, 61, "void_payment", payment_id=f"pay-{run}-1"),
        command(
            run,
            62,
            "settle_merchant",
            batch_id=f"batch-{run}",
            merchant_account=acc["shop"],
            payout_account=acc["payout"],
            fees_account=acc["fees"],
            fee_bps=250,
        ),
        command(
            run,
            63,
            "transfer",
            transfer_id=f"back-{run}",
            from_account=acc["alice"],
            to_account=acc["bank"],
            amount=1,
            currency="EUR",
        ),
    ]
    return acc, commands, first_half


def story_aggregate_ids(run: str, acc: dict[str, str], commands: list[dict]) -> list[uuid.UUID]:
    return [
        *(ids.account_id_to_uuid(a) for a in acc.values()),
        *(ids.payment_id_to_uuid(f"pay-{run}-{i}") for i in range(3)),
        *(ids.transfer_id_to_uuid(f"{t}-{run}") for t in ("top", "back")),
        ids.batch_id_to_uuid(f"batch-{run}"),
        *(ids.dispute_id_to_uuid(f"dp-{run}-{d}") for d in ("won", "lost")),
        *(ids.command_id_to_uuid(c["command_id"]) for c in commands),
    ]


def write_business_day(settings) -> Story:
    run = uuid.uuid4().hex[:8]
    acc, commands, first_half = business_day(run)
    app = open_application(settings)
    ledger = signed_ledger(app)
    midday = None
    for n, raw in enumerate(commands):
        if n == first_half:
            time.sleep(0.01)
            midday = datetime.now(UTC)
            time.sleep(0.01)
        outcome = ledger.decide(raw)
        assert outcome.status == "accepted", outcome
    assert midday is not None
    # The operator's side: an API key of the day's principal, issued and revoked.
    later = datetime.now(UTC) + timedelta(days=1)
    key = issue_api_key(app, principal="test@replay", expires_at=later, actor="tests")
    revoke_api_key(app, prefix=key.prefix, reason="end of day", actor="tests")
    identity = [ids.principal_to_uuid("test@replay"), ids.api_key_to_uuid(key.prefix)]
    return Story(run, acc, midday, story_aggregate_ids(run, acc, commands) + identity, key.prefix)


@dataclass
class Copy:
    schema: str
    url: str = field(repr=False)  # carries a password
    source: StoreEventSource

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(query.encode(), params)
            return cursor.fetchall() if cursor.description else []

    def tables(self) -> dict[str, list[tuple]]:
        return {t: self.sql(f"SELECT * FROM {t} ORDER BY 1") for t in TABLES}


@pytest.fixture(scope="module")
def story(settings) -> Story:
    return write_business_day(settings)


@pytest.fixture
def copy(settings, superuser_database_url, story) -> Iterator[Copy]:
    schema = f"t_replay_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION payments_app".encode())
    url = url_with_search_path(settings.require_database_url(), schema)
    install(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE payments_events (LIKE public.payments_events INCLUDING ALL)")
        # Only this story's events: a small store, with gaps in its positions (as
        # rolled-back inserts leave), unaffected by whatever else the store holds.
        conn.execute(
            "INSERT INTO payments_events SELECT * FROM public.payments_events"
            " WHERE originator_id = ANY(%s)",
            (story.aggregate_ids,),
        )
    env = application_env(settings.require_database_url()) | {"POSTGRES_SCHEMA": schema}
    source = StoreEventSource(settings, app=PaymentsApplication(env=env))
    yield Copy(schema, url, source)
    source.close()
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def build_incrementally(copy: Copy, settings) -> str:
    """Publish the store as the relay would, and let the three consumers catch up."""
    prefix = unique_prefix("replay")
    bootstrap = settings.require_kafka_bootstrap()
    topic = create_topics(bootstrap, prefix).events
    last = copy.source.max_position()
    events = [e for page in copy.source.pages(0, last) for e in page]
    publish(bootstrap, topic, [(e["aggregate_id"].encode(), to_wire(e)) for e in events])
    stop = threading.Event()
    loops = [
        ProjectionConsumer(
            ConsumerConfig(
                name,
                APPLIERS[name],
                copy.url,
                bootstrap,
                topic,
                f"{prefix}-projection-{name}",
                max_records=200,
                kafka_auth=kafka_auth(),
            ),
            stop,
        )
        for name in PROJECTIONS
    ]
    threads = [threading.Thread(target=loop.run) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 120
        while not all(loop.applied >= len(events) for loop in loops):
            assert time.monotonic() < deadline, [loop.applied for loop in loops]
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    return topic


def replay_all(copy: Copy, topic: str = "unused.events"):
    return replay(copy.url, copy.source, topic, PROJECTIONS, lambda: {0: 7, 1: 9})


def differences(copy: Copy) -> set[tuple[str, str, str]]:
    report = verify(copy.url, copy.source)
    return {(d.table, d.key, d.column) for d in report.differences}


def test_replay_gives_the_tables_the_consumers_built(copy, settings):
    topic = build_incrementally(copy, settings)
    incremental = copy.tables()

    result = replay_all(copy, topic)

    assert copy.tables() == incremental
    assert result.events == len(incremental["audit_log"])
    # The consumers carry on from the offsets read before the store was.
    positions = copy.sql(
        "SELECT projection, partition, next_offset FROM projection_positions ORDER BY 1, 2"
    )
    assert positions == [
        (p, part, off) for p in sorted(PROJECTIONS) for part, off in ((0, 7), (1, 9))
    ]


def test_replay_twice_then_the_tables_tell_the_story(copy, story):
    replay_all(copy)
    replay_all(copy)  # index names are swapped back, so it can run again
    alice = story.accounts["alice"]
    gross = 1_000 + 1_001 + 1_002
    # Still held: pay-0's 500 and pay-2's 498 (pay-1's rest was voided). The lost
    # dispute's 200 came back to alice; the won one's 300 stayed with the shop.
    posted, held = 10_000 - gross + 300 + 50 - 1 + 200, 500 + 498
    assert copy.sql(
        "SELECT posted, held, available FROM balances WHERE account_id = %s", (alice,)
    ) == [(posted, held, posted - held)]
    statuses = copy.sql(
        "SELECT status FROM payments WHERE payment_id LIKE %s ORDER BY 1", (f"pay-{story.run}-%",)
    )
    assert statuses == [("charged_back",), ("partially_refunded",), ("partially_refunded",)]
    items = copy.sql(
        "SELECT kind, count(*), sum(amount) FROM settlement_items GROUP BY 1 ORDER BY 1"
    )
    assert items == [
        ("capture", 3, gross), ("chargeback", 1, 50),
        ("dispute", 2, 300 + 200), ("dispute_fee", 1, 50), ("dispute_reinstatement", 1, 300),
        ("refund", 3, 300),
    ]  # fmt: skip
    assert copy.sql("SELECT count(*) FROM merchant_unsettled") == [(0,)]
    (key,) = copy.sql(
        "SELECT k.principal, k.revoked_at IS NOT NULL, p.roles FROM api_keys k"
        " JOIN principals p USING (principal) WHERE k.prefix = %s",
        (story.api_key_prefix,),
    )
    assert key[:2] == ("test@replay", True) and "auditor" in key[2].split()


def test_settlement_batch_follows_the_contract_and_verify_finds_nothing(copy, story):
    replay_all(copy)
    (batch,) = copy.sql(
        "SELECT gross, refunds, chargebacks, fees, net, item_count FROM settlement_batches"
        " WHERE batch_id = %s",
        (f"batch-{story.run}",),
    )
    gross = 1_000 + 1_001 + 1_002
    fees = (gross * 250 + 5000) // 10000  # 75.075 → 75
    # disputes: 300 + fee 50 (won: both withdrawn, then 300 back) and 200 (lost)
    disputes, back = 300 + 50 + 200, 300
    assert batch == (gross, 300, 50, fees, gross - 300 - 50 - disputes + back - fees, 11)
    (figures,) = copy.sql(
        "SELECT disputes, reinstatements FROM settlement_batches WHERE batch_id = %s",
        (f"batch-{story.run}",),
    )
    assert figures == (disputes, back)
    rows = copy.sql("SELECT dispute_id, status, cause, proposed_by, decided_by FROM disputes")
    assert sorted(rows) == [
        (f"dp-{story.run}-lost", "lost", "accepted", None, "test@replay"),
        (f"dp-{story.run}-won", "won", "approved", "test@replay", "reviewer@replay"),
    ]
    steps = copy.sql(
        "SELECT event_type, actor FROM dispute_timeline WHERE dispute_id = %s ORDER BY position",
        (f"dp-{story.run}-won",),
    )
    assert steps == [
        ("Dispute.Opened", "test@replay"),
        ("Dispute.EvidenceSubmitted", "test@replay"),
        ("Dispute.ResolutionProposed", "test@replay"),
        ("Dispute.Won", "reviewer@replay"),
    ]
    shop = story.accounts["shop"]
    assert copy.sql("SELECT posted FROM balances WHERE account_id = %s", (shop,)) == [(0,)]
    report = verify(copy.url, copy.source)
    assert report.ok, report.differences[:10]
    assert report.posted_by_currency.get("EUR") == 0


def test_verify_catches_an_altered_balance_a_deleted_audit_row_and_a_changed_event(copy, story):
    replay_all(copy)
    alice = story.accounts["alice"]
    # What verify says of the untouched copy (nothing, once the write side keeps the
    # contract; see test_settlement_batch_follows_the_contract...): tampering adds to it.
    baseline = differences(copy)

    copy.sql("UPDATE balances SET posted = posted + 1 WHERE account_id = %s", (alice,))
    assert ("balances", alice, "posted") in differences(copy) - baseline
    replay_all(copy)
    assert differences(copy) == baseline
    # A revoked API key made valid again behind the projection's back.
    copy.sql("UPDATE api_keys SET revoked_at = NULL WHERE prefix = %s", (story.api_key_prefix,))
    assert ("api_keys", story.api_key_prefix, "revoked_at") in differences(copy) - baseline
    replay_all(copy)

    # An audit row's time moved by one microsecond: its content and its hash differ.
    (moved,) = copy.sql("SELECT position FROM audit_log ORDER BY position OFFSET 3 LIMIT 1")[0]
    copy.sql(
        "UPDATE audit_log SET recorded_at = recorded_at + interval '1 microsecond'"
        " WHERE position = %s",
        (moved,),
    )
    found = differences(copy) - baseline
    assert {("audit_log", str(moved), "recorded_at"), ("audit_log", str(moved), "hash")} <= found
    replay_all(copy)

    (middle,) = copy.sql("SELECT position FROM audit_log ORDER BY position OFFSET 5 LIMIT 1")[0]
    copy.sql("DELETE FROM audit_log WHERE position = %s", (middle,))
    found = differences(copy) - baseline
    assert ("audit_log", str(middle), "(row)") in found
    next_position = copy.sql("SELECT min(position) FROM audit_log WHERE position > %s", (middle,))[
        0
    ][0]
    assert ("audit_log", str(next_position), "prev_hash") in found
    replay_all(copy)

    # The stored event of the top-up's credit to alice, its amount changed (as the
    # superuser would, with the append-only triggers disabled; here on our copy).
    (position, state) = copy.sql(
        "SELECT notification_id, state FROM payments_events"
        " WHERE state::text LIKE %s AND topic LIKE %s ORDER BY notification_id LIMIT 1",
        (f"%{_hex('top-' + story.run)}%", "%Credited%"),
    )[0]
    tampered = bytes(state).replace(b"10000", b"99999")
    assert tampered != bytes(state)
    copy.sql(
        "UPDATE payments_events SET state = %s WHERE notification_id = %s", (tampered, position)
    )
    found = differences(copy) - baseline
    assert ("audit_log", str(position), "payload") in found
    assert ("balances", alice, "posted") in found


def _hex(text: str) -> str:
    return text.encode().hex()


def test_history_at_a_past_time(copy, story):
    alice = story.accounts["alice"]
    before = account_history(copy.source, alice, story.midday)
    assert before is not None
    assert (before.balance["posted"], before.balance["held"]) == (10_000, 0)
    assert [m.posted_change for m in before.movements] == [10_000]

    now = account_history(copy.source, alice, datetime.now(UTC))
    assert now is not None and len(now.movements) > len(before.movements)
    last = now.movements[-1]
    assert (now.balance["posted"], now.balance["held"]) == (last.posted_after, last.held_after)
    assert account_history(copy.source, alice, datetime(2000, 1, 1, tzinfo=UTC)) is None


@pytest.mark.slow
def test_end_to_end_engine_relay_and_consume_all(settings, superuser_database_url, tmp_path):
    """Commands on Kafka → engine → store → relay → `consume all` → tables = the store's fold.

    The relay of a new topic prefix sends the whole shared history, so this reads
    every stored event; only this run's rows are compared (others keep writing).
    """
    from projections.rebuild.read_model import ReadModel
    from tests.support.engine import EngineProcess, engine_env
    from tests.support.kafka import envelope_record

    schema = f"t_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(superuser_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION payments_app".encode())
    # public after ours: the audit chain's oracle is the real payments_events.
    url = url_with_search_path(settings.require_database_url(), schema, "public")
    install(url)
    prefix = unique_prefix("e2e")
    bootstrap = settings.require_kafka_bootstrap()
    topics = create_topics(bootstrap, prefix)
    env = engine_env(settings, prefix, f"{prefix}-engine", PAYMENTS_DATABASE_URL=url)
    engine = EngineProcess(env, tmp_path / "engine.log")
    with (tmp_path / "consume.log").open("ab") as log:
        consumers = subprocess.Popen(
            [sys.executable, "-m", "payments.cli", "consume", "all"],
            env=env,
            stdout=log,
            stderr=log,
        )
    run = uuid.uuid4().hex[:8]
    acc, commands, _ = business_day(run)
    try:
        publish(bootstrap, topics.commands, [envelope_record(c, key="day") for c in commands])
        last = f"{run}-63"
        deadline = time.monotonic() + 600
        copy = Copy(schema, url, StoreEventSource(settings))
        mine = story_aggregate_ids(run, acc, commands)
        while True:
            assert engine.alive() and consumers.poll() is None, "engine or consumers died"
            assert time.monotonic() < deadline, "the story did not reach the tables"
            positions = copy.sql(
                "SELECT max(notification_id), count(*) FROM public.payments_events"
                " WHERE originator_id = ANY(%s)",
                (mine,),
            )[0]
            head = copy.sql("SELECT position FROM audit_chain_head")[0][0]
            stored_last = copy.sql(
                "SELECT 1 FROM public.payments_events WHERE originator_id = %s",
                (ids.command_id_to_uuid(last),),
            )
            if stored_last and positions[0] and head >= positions[0]:
                break
            time.sleep(1)
        time.sleep(2)  # balances/settlements consumers run beside audit: let them finish
        model = ReadModel()
        for page in copy.source.pages(0, positions[0]):
            model.apply(page)
        for account in acc.values():
            want = model.balances[account]
            (got,) = copy.sql(
                "SELECT posted, held, available, last_version FROM balances WHERE account_id = %s",
                (account,),
            )
            assert got == (want["posted"], want["held"], want["available"], want["last_version"])
        batch = model.settlements.batches[f"batch-{run}"]
        assert copy.sql(
            "SELECT net, item_count FROM settlement_batches WHERE batch_id = %s", (f"batch-{run}",)
        ) == [(batch["net"], batch["item_count"])]
        report = verify(url, copy.source)
        audit_problems = [d for d in report.differences if d.table.startswith("audit")]
        assert audit_problems == []
        assert report.audit_rows >= positions[1]
        copy.source.close()
    finally:
        consumers.send_signal(signal.SIGTERM)
        assert consumers.wait(timeout=60) == 0
        engine.stop()
        with psycopg.connect(superuser_database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())
