"""Publishing hostile records among valid ones and collecting what came back.

A `Batch` keeps, per record, how to find its answer: an outcome (by command_id) for
a record with a string command_id, a dead letter (by the record's unique key) for
one without. `collect()` reads both topics until every record is answered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from tests.support.kafka import auth, publish
from tests.support.signing import signed_for_kafka


@dataclass
class Answers:
    outcomes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    letters: dict[bytes, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Batch:
    run: str
    records: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    expect_outcome: dict[bytes, str] = field(default_factory=dict)  # key -> command_id
    expect_letter: set[bytes] = field(default_factory=set)

    def key(self) -> bytes:
        return f"{self.run}-r{len(self.records)}".encode()

    def command(self, envelope: dict[str, Any] | bytes, command_id: str) -> bytes:
        """A record whose answer is an outcome addressed to `command_id`."""
        key = self.key()
        if not isinstance(envelope, bytes):  # signed by its actor, when it can be
            envelope = json.dumps(signed_for_kafka(envelope)).encode()
        value = envelope
        self.records.append((key, value))
        self.expect_outcome[key] = command_id
        return key

    def letter(self, value: bytes | None) -> bytes:
        """A record that has no command_id to answer: it must become a dead letter."""
        key = self.key()
        self.records.append((key, value))
        self.expect_letter.add(key)
        return key

    def publish(self, bootstrap: str, topic: str) -> None:
        publish(bootstrap, topic, self.records)


def collect(
    bootstrap: str, results: str, dlq: str, batch: Batch, timeout: float = 180.0
) -> Answers:
    """Outcomes of the batch's command ids and dead letters of its keys, until complete."""
    wanted_ids = set(batch.expect_outcome.values())
    wanted_keys = set(batch.expect_outcome) | batch.expect_letter
    answers = Answers()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **auth()
    )
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in (results, dlq)
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=300, max_records=10_000).items():
                for record in records:
                    _take(answers, tp.topic == dlq, record, wanted_ids, wanted_keys)
            if (
                wanted_ids <= answers.outcomes.keys()
                and batch.expect_letter <= answers.letters.keys()
            ):
                time.sleep(1.0)  # let any wrongly doubled answer arrive too
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        _take(answers, record.topic == dlq, record, wanted_ids, wanted_keys)
                break
    finally:
        consumer.close()
    return answers


def _take(answers: Answers, is_letter: bool, record: Any, ids: set[str], keys: set[bytes]) -> None:
    document = json.loads(record.value)
    if is_letter:
        if record.key in keys:
            answers.letters.setdefault(record.key, []).append(document)
    elif document.get("command_id") in ids:
        answers.outcomes.setdefault(document["command_id"], []).append(document)
