"""The benchmark's Kafka client side: its own topics, a publisher, an outcome collector.

The publisher sends exactly what a client would (an envelope on `<prefix>.commands`,
key = payment or account id) and notes the time of each send; the collector reads
`<prefix>.command-results` from its first offset on a thread of its own and notes the
time each outcome arrived. Envelopes are encoded before the clock starts, so the
figures measure the engine, not our JSON encoder.

Both run on librdkafka (confluent-kafka), as pgbench's client is C: the bench's client
shares the two cores with what it measures, and kafka-python's pure-Python record
building and decoding cost it about 800 µs of CPU per command (the CPU table of run
`20261202221130-2358e1`), a third of a core taken from the engine at full load.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from payments.client.signer import signed_as
from payments.contract.signing import Signer
from payments.runtime.kafka_clients import rdkafka_auth
from payments.runtime.settings import Topics
from payments.tools.bench.workload import Command
from payments.tools.services.topics import ensure_topics

PARTITIONS = {"commands": 8, "events": 8, "command_results": 3, "commands_dlq": 1}


def create_topics(bootstrap: str, prefix: str, auth: dict[str, Any]) -> Topics:
    topics = Topics(prefix)
    wanted = {getattr(topics, name): n for name, n in PARTITIONS.items()}
    ensure_topics(bootstrap, wanted, auth)
    return topics


def delete_topics(bootstrap: str, topics: Topics, auth: dict[str, Any]) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **auth)
    try:
        admin.delete_topics(topics.all(), timeout_ms=15_000)
    finally:
        admin.close()


@dataclass(frozen=True)
class Encoded:
    command_id: str
    key: bytes
    value: bytes


def encode(commands: Iterable[Command], signer: Signer) -> list[Encoded]:
    """Signed as a client signs (before the clock starts: signing is the client's cost)."""
    return [
        Encoded(c.command_id, c.key.encode(), json.dumps(signed_as(signer, c.envelope)).encode())
        for c in commands
    ]


class DeliveryFailed(RuntimeError):
    """The broker did not take some of the bench's commands: the run cannot be measured."""


class Publisher:
    def __init__(self, bootstrap: str, topic: str, linger_ms: int, auth: dict[str, Any]) -> None:
        self.topic = topic
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": linger_ms,
                "batch.size": 256 * 1024,
                # Java's (and kafka-python's) partitioner: a key lands where the
                # engine's other clients put it.
                "partitioner": "murmur2_random",
                "logger": None,
            }
            | rdkafka_auth(auth)
        )
        self._failures: list[str] = []

    def _delivered(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self._failures.append(str(error))

    def _send(self, record: Encoded) -> None:
        while True:
            try:
                self.producer.produce(
                    self.topic, value=record.value, key=record.key, on_delivery=self._delivered
                )
                return
            except BufferError:
                self.producer.poll(0.01)  # local queue full: let deliveries drain

    def _flush(self) -> None:
        left = self.producer.flush(60)
        failures, self._failures = self._failures, []
        if left or failures:
            first = failures[0] if failures else "timeout"
            raise DeliveryFailed(f"{left} unacknowledged, {len(failures)} failed: {first}")

    def send_all(self, records: Sequence[Encoded]) -> dict[str, float]:
        """As fast as the client goes; returns command_id → send time (perf_counter)."""
        sent: dict[str, float] = {}
        for index, record in enumerate(records):
            sent[record.command_id] = time.perf_counter()
            self._send(record)
            if index % 1000 == 999:
                self.producer.poll(0)  # serve delivery reports as we go
        self._flush()
        return sent

    def send_paced(
        self, records: Sequence[Encoded], rate: float, seconds: float
    ) -> dict[str, float]:
        """At `rate` a second for `seconds` (or until `records` run out), each sent
        on its own schedule: a late send is not followed by a burst to catch up
        beyond the schedule, but the schedule itself never drifts."""
        sent: dict[str, float] = {}
        count = min(len(records), max(1, int(rate * seconds)))
        start = time.perf_counter()
        for index, record in enumerate(records[:count]):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[record.command_id] = time.perf_counter()
            self._send(record)
            self.producer.poll(0)
        self._flush()
        return sent

    def close(self) -> None:
        self.producer.flush(10)


@dataclass
class OutcomeCollector:
    """Every outcome on the results topic, with its arrival time, on a thread."""

    bootstrap: str
    topic: str
    auth: dict[str, Any]
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    # When the engine produced each outcome (the record's CreateTime), on our
    # perf_counter scale: splits a latency into the engine's part and delivery's.
    produced: dict[str, float] = field(default_factory=dict)
    messages: int = 0
    duplicates: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="outcomes", daemon=True)
        self._consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                # Required by librdkafka; never joined (assign) and never committed.
                "group.id": f"{self.topic}-bench-collector",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "fetch.wait.max.ms": 5,
                "logger": None,
            }
            | rdkafka_auth(self.auth)
        )
        metadata = self._consumer.list_topics(self.topic, timeout=30)
        partitions = sorted(metadata.topics[self.topic].partitions)
        self._consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            # consume() waits for its whole timeout unless num_messages arrive (at 50 ms it
            # added ~25 ms to every latency measured here): wait for the first message
            # with poll(), which returns as it arrives, then take what is already here.
            first = self._consumer.poll(0.05)
            if first is None:
                continue
            messages = [first, *self._consumer.consume(num_messages=10_000, timeout=0)]
            now = time.perf_counter()
            wall_to_perf = now - time.time()
            with self._lock:
                for message in messages:
                    if message.error() is not None:
                        continue  # partition EOF and transient errors: librdkafka retries
                    outcome = orjson.loads(message.value())
                    command_id = outcome["command_id"]
                    self.messages += 1
                    if command_id in self.outcomes:
                        self.duplicates += 1
                        continue
                    self.outcomes[command_id] = outcome
                    self.arrived[command_id] = now
                    self.produced[command_id] = message.timestamp()[1] / 1000 + wall_to_perf

    def wait_for(self, command_ids: Iterable[str], timeout: float) -> list[str]:
        """Wait until every id has an outcome; return those still missing at the timeout."""
        missing = list(command_ids)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                missing = [c for c in missing if c not in self.outcomes]
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.005)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()
