"""`payments send`: publish command envelopes as a client would, and wait for answers.

Results are read from the end of `payments.command-results` as it was *before* the
first publish, so an answer is never missed, and matched by `command_id`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from payments.runtime.settings import Settings

ROUTING_FIELDS = ("payment_id", "account_id", "from_account", "merchant_account", "batch_id")


def routing_key(envelope: dict[str, Any]) -> str:
    """The contract lets the client choose; we key by the payment or the account touched,
    so that the commands of one payment or account keep their order."""
    payload = envelope.get("payload")
    if isinstance(payload, dict):
        for name in ROUTING_FIELDS:
            value = payload.get(name)
            if isinstance(value, str) and value:
                return value
    return str(envelope.get("command_id", ""))


@dataclass
class SendResult:
    sent: list[str] = field(default_factory=list)  # command ids, first sending order
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    invalid_lines: list[str] = field(default_factory=list)


def results_consumer(settings: Settings) -> KafkaConsumer:
    """A reader of the results topic positioned at its current end."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.require_kafka_bootstrap(),
        enable_auto_commit=False,
        group_id=None,
    )
    topic = settings.topics.command_results
    partitions = consumer.partitions_for_topic(topic) or set()
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_end(*assigned)
    for tp in assigned:
        consumer.position(tp)  # resolve the end offsets now, before publishing
    return consumer


def send_commands(settings: Settings, lines: Iterable[str], timeout: float = 30.0) -> SendResult:
    result = SendResult()
    envelopes: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            envelope = json.loads(line)
        except ValueError:
            result.invalid_lines.append(line.rstrip("\n"))
            continue
        if not isinstance(envelope, dict) or not isinstance(envelope.get("command_id"), str):
            result.invalid_lines.append(line.rstrip("\n"))
            continue
        envelopes.append(envelope)
    result.sent = list(dict.fromkeys(e["command_id"] for e in envelopes))

    consumer = results_consumer(settings)
    producer = KafkaProducer(
        bootstrap_servers=settings.require_kafka_bootstrap(), acks="all", linger_ms=5
    )
    try:
        for envelope in envelopes:
            producer.send(
                settings.topics.commands,
                key=routing_key(envelope).encode(),
                value=json.dumps(envelope).encode(),
            )
        producer.flush(timeout=30)
        waiting = {e["command_id"] for e in envelopes}
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    outcome = json.loads(record.value)
                    command_id = outcome.get("command_id")
                    if command_id in waiting:
                        waiting.discard(command_id)
                        result.outcomes[command_id] = outcome
        result.missing = sorted(waiting)
    finally:
        producer.close(timeout=5)
        consumer.close()
    return result
