"""`payments send`: publish command envelopes as a client would, and wait for answers.

Every line without a signature is signed with the settings' key, as its principal
(`actor` is set to it: a command's actor is always its key's principal); a line that
is already signed is sent as it is. Results are read from the end of
`payments.command-results` as it was *before* the first publish, so an answer is never
missed, and matched by `command_id`.

Order: the engine keeps the order of one partition only. In order (the default),
every line of one run goes under one key, so one partition, and is decided in file
order: a transfer after the `open_account` lines above it always finds its accounts.
By entity, each line is keyed by the payment or account it touches (`routing_key`),
which spreads a large file over the partitions and engines but keeps order only
within one payment or account.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from payments.client.signer import load_signer, signed_as
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
        **settings.kafka_python_auth(),
    )
    topic = settings.topics.command_results
    partitions = consumer.partitions_for_topic(topic) or set()
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_end(*assigned)
    for tp in assigned:
        consumer.position(tp)  # resolve the end offsets now, before publishing
    return consumer


def send_commands(
    settings: Settings, lines: Iterable[str], timeout: float = 30.0, *, in_order: bool = True
) -> SendResult:
    result = SendResult()
    # One key per run: this run stays in file order, other runs may use other partitions.
    run_key = f"send-{uuid.uuid4().hex}"
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
    if any("signature" not in e for e in envelopes):
        signer = load_signer(settings)
        envelopes = [signed_as(signer, e) for e in envelopes]
    result.sent = list(dict.fromkeys(e["command_id"] for e in envelopes))

    consumer = results_consumer(settings)
    producer = KafkaProducer(
        bootstrap_servers=settings.require_kafka_bootstrap(),
        acks="all",
        linger_ms=5,
        **settings.kafka_python_auth(),
    )
    try:
        for envelope in envelopes:
            producer.send(
                settings.topics.commands,
                key=(run_key if in_order else routing_key(envelope)).encode(),
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
