"""Real-Kafka helpers for tests: topics under a unique prefix, publish, read back."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from payments.runtime.settings import Settings, Topics
from payments.tools.services import principals
from tests.support.signing import signed_for_kafka

TEST_PARTITIONS = {"commands": 4, "events": 4, "command_results": 2, "commands_dlq": 1}


def unique_prefix(label: str) -> str:
    return f"t-{label}-{uuid.uuid4().hex[:8]}"


def auth() -> dict[str, Any]:
    """kafka-python SASL arguments of the session's principal (the harness: admin)."""
    return Settings().kafka_python_auth()


def create_topics(bootstrap: str, prefix: str, engine_group: str | None = None) -> Topics:
    """The contract topics under `prefix`, and the principals' ACLs on them."""
    topics = Topics(prefix)
    principals.grant(Settings(), prefix, engine_group or f"{prefix}-engine")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **auth())
    try:
        admin.create_topics(
            [
                NewTopic(getattr(topics, attr), partitions, 1)
                for attr, partitions in TEST_PARTITIONS.items()
            ]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    return topics


Headers = list[tuple[str, bytes]]
# (key, value) or (key, value, headers)
Record = tuple[bytes | None, bytes | None] | tuple[bytes | None, bytes | None, Headers]


def publish(bootstrap: str, topic: str, records: Iterable[Record]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=4 << 20, **auth()
    )
    try:
        futures = [
            producer.send(topic, key=r[0], value=r[1], headers=r[2] if len(r) > 2 else None)
            for r in records
        ]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=0)  # a record the broker refused fails the test here
    finally:
        producer.close(timeout=5)


def envelope_record(envelope: dict[str, Any], key: str | None = None) -> tuple[bytes, bytes]:
    """A command record, signed by the envelope's actor (tests/support/signing.py)."""
    envelope = signed_for_kafka(envelope)
    payload = envelope.get("payload") or {}
    routing = (
        key or payload.get("payment_id") or payload.get("account_id") or envelope["command_id"]
    )
    return str(routing).encode(), json.dumps(envelope).encode()


def read_topic(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Any]], bool],
    timeout: float = 60.0,
) -> list[Any]:
    """Read a topic from the beginning until `done(records)` or the timeout."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **auth()
    )
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] = set()
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                time.sleep(0.2)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        records: list[Any] = []
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            if done(records):
                break
        return records
    finally:
        consumer.close()


def outcomes_by_command(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        outcome = json.loads(record.value)
        found.setdefault(outcome["command_id"], []).append(outcome)
    return found
