"""The intake's answers in flight, on real Kafka and PostgreSQL: a batch is committed
only once the broker acknowledged its answers; one whose answers never were is read
again by the next intake and answered from its CommandRecords as `replayed`."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from payments.engine import intake as intake_module
from payments.engine.intake import CommandIntake
from payments.engine.publisher import Delivery, Publisher
from payments.ledger.service import Ledger
from payments.ledger.store import open_application
from payments.runtime.kafka_clients import command_consumer
from payments.runtime.settings import Settings
from tests.support.kafka import (
    auth,
    create_topics,
    envelope_record,
    outcomes_by_command,
    publish,
    read_topic,
    unique_prefix,
)

pytestmark = pytest.mark.integration


class AnswersLostBeforeTheBroker(Publisher):
    """Answers sent with a Delivery never reach the broker, as in a crash right after
    `_send_answers`: their acks never come (the broker itself is real)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "payments-intake-test")
        self.lost: int = 0

    def send(
        self, topic: str, key: bytes | None, value: bytes, delivery: Delivery | None = None
    ) -> None:
        if delivery is None:
            super().send(topic, key, value)
            return
        delivery.expect()  # counted as sent, never acknowledged
        self.lost += 1


def running(intake: CommandIntake) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=intake.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def committed(settings: Settings) -> int:
    """The group's committed offsets on the commands topic, summed over partitions."""
    probe = KafkaConsumer(
        bootstrap_servers=settings.require_kafka_bootstrap(),
        group_id=settings.engine_group,
        enable_auto_commit=False,
        **auth(),
    )
    try:
        topic = settings.topics.commands
        partitions = probe.partitions_for_topic(topic) or set()
        return sum(probe.committed(TopicPartition(topic, p)) or 0 for p in partitions)
    finally:
        probe.close(autocommit=False)


@pytest.fixture
def pipeline(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    prefix = unique_prefix("pipeline")
    group = f"{prefix}-engine"
    create_topics(settings.require_kafka_bootstrap(), prefix, group)
    monkeypatch.setattr(intake_module, "DRAIN_SECONDS", 1.0)  # the lost acks never come
    yield Settings(topic_prefix=prefix, engine_group=group)


def intake_with(settings: Settings, publisher: Publisher) -> tuple[CommandIntake, Any]:
    app = open_application(settings)
    ledger = Ledger(app, holder_kek=settings.holder_kek())
    return CommandIntake(settings, ledger, command_consumer(settings), publisher), app


def wait_until(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_unacknowledged_answers_are_not_committed_and_are_replayed_after_a_restart(
    pipeline: Settings,
) -> None:
    settings = pipeline
    run = uuid.uuid4().hex[:8]
    envelopes = [
        {
            "command_id": f"{run}-{n}",
            "type": "open_account",
            "actor": "pipeline@it",
            "payload": {"account_id": f"pl{n}-{run}", "currency": "EUR", "kind": "customer"},
        }
        for n in range(5)
    ]
    ids = {e["command_id"] for e in envelopes}
    bootstrap = settings.require_kafka_bootstrap()
    publish(bootstrap, settings.topics.commands, [envelope_record(e) for e in envelopes])

    losing = AnswersLostBeforeTheBroker(settings)
    first, app = intake_with(settings, losing)
    thread, stop = running(first)
    try:
        wait_until(lambda: losing.lost >= len(envelopes))  # all decided, stored, "sent"
    finally:
        stop.set()
        thread.join(timeout=60)
        first.consumer.close(autocommit=False)
        losing.close()
        app.close()
    assert not thread.is_alive()
    assert committed(settings) == 0  # stored, but no answer acked: nothing committed

    publisher = Publisher(settings, "payments-intake-test")
    second, app = intake_with(settings, publisher)
    thread, stop = running(second)
    try:
        records = read_topic(
            bootstrap,
            settings.topics.command_results,
            lambda rs: ids <= outcomes_by_command(rs).keys(),
            timeout=90,
        )
        answers = outcomes_by_command(records)
        assert ids <= answers.keys()
        for command_id in ids:  # decided once, by the first intake; answered from records
            assert [(a["status"], a["replayed"]) for a in answers[command_id]] == [
                ("accepted", True)
            ]
        wait_until(lambda: committed(settings) == len(envelopes))  # acked: committed
    finally:
        stop.set()
        thread.join(timeout=60)
        second.consumer.close(autocommit=False)
        publisher.close()
        app.close()
