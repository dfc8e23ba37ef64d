"""The API's Kafka side: publish signed commands, and hand each outcome to its waiter.

One producer and one reader of the results topic per process (kafka-python's
consumer is not thread-safe: one thread owns it). The reader starts at the topic's
end before the first request is taken, and a waiter is registered *before* its
command is published, so no outcome can slip past. Only command ids this process
submitted are remembered (bounded), with the principal that sent them, so
`GET /commands/{id}` can answer an outcome the engine does not store (an envelope
error) and say "pending" for one still on its way.

Limit: the results topic carries no issuer, so two callers racing on one command_id
in the same instant both get the first answer; the store keeps the right record
(and GET reads it from the audit log, by actor).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from payments.client.send import routing_key
from payments.runtime.settings import Settings

log = structlog.get_logger("payments.api")
REMEMBERED = 10_000  # command ids whose last outcome this process keeps
ACK_SECONDS = 10.0  # the broker's acknowledgement: without it nothing was sent (503)


@dataclass
class Submitted:
    principal: str
    answers: int = 0  # outcomes seen for this id since it was first submitted here
    outcome: dict[str, Any] | None = None


class CommandBus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topics.commands
        self._changed = threading.Condition()
        self._submitted: OrderedDict[str, Submitted] = OrderedDict()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="api-results", daemon=True)
        self._producer: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None

    def start(self) -> None:
        auth = self.settings.kafka_python_auth()
        bootstrap = self.settings.require_kafka_bootstrap()
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1, **auth)
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **auth
        )
        results = self.settings.topics.command_results
        partitions = sorted(consumer.partitions_for_topic(results) or ())
        assigned = [TopicPartition(results, p) for p in partitions]
        if not assigned:
            raise RuntimeError(f"topic {results} not found: run `payments services topics`")
        consumer.assign(assigned)
        consumer.seek_to_end(*assigned)
        for partition in assigned:
            consumer.position(partition)  # resolved now: every later outcome is read
        self._consumer = consumer
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._producer is not None:
            self._producer.close(timeout=5)
        if self._consumer is not None:
            self._consumer.close()

    def submit(self, envelope: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Publish a signed envelope; its outcome, or None when none came within `timeout`
        seconds of the broker's acknowledgement."""
        assert self._producer is not None, "the bus was not started"
        command_id = envelope["command_id"]
        with self._changed:
            entry = self._submitted.get(command_id)
            if entry is None:
                entry = self._submitted[command_id] = Submitted(envelope["actor"])
                self._forget_oldest()
            entry.principal = envelope["actor"]
            seen = entry.answers
        future = self._producer.send(
            self.topic, key=routing_key(envelope).encode(), value=json.dumps(envelope).encode()
        )
        future.get(timeout=ACK_SECONDS)  # acknowledged by the broker, or KafkaError
        with self._changed:
            self._changed.wait_for(lambda: entry.answers > seen, timeout=timeout)
            return entry.outcome if entry.answers > seen else None

    def known(self, command_id: str, principal: str) -> Submitted | None:
        """What this process knows of a command `principal` submitted here."""
        with self._changed:
            entry = self._submitted.get(command_id)
            return entry if entry is not None and entry.principal == principal else None

    def _forget_oldest(self) -> None:
        while len(self._submitted) > REMEMBERED:
            self._submitted.popitem(last=False)

    def _read(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            try:
                batches = self._consumer.poll(timeout_ms=200)
            except Exception as error:  # a broker hiccup: keep reading, say so
                log.warning("api.results_poll_failed", error=str(error)[:300])
                self._stop.wait(1.0)
                continue
            for records in batches.values():
                for record in records:
                    self._deliver(record.value)

    def _deliver(self, value: bytes | None) -> None:
        try:
            outcome = json.loads(value or b"")
        except ValueError:
            return
        command_id = outcome.get("command_id") if isinstance(outcome, dict) else None
        if not isinstance(command_id, str):
            return
        with self._changed:
            entry = self._submitted.get(command_id)
            if entry is None:
                return  # somebody else's command
            entry.answers += 1
            entry.outcome = outcome
            self._changed.notify_all()
