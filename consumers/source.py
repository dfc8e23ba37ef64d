"""The events topic as one projection reads it: a librdkafka consumer group member.

Why librdkafka here: kafka-python's fetcher decodes every record batch in Python
(about a third of the consumers' samples in the bench's profiles, run
`20261203062307-after`); confluent-kafka does the fetching, decompression and
checksums in C and hands over ready records.

Where each partition starts is not Kafka's business: on assignment the source asks
`starts` (the loop reads `projection_positions` in PostgreSQL) and assigns each
partition at that offset, or at the beginning when nothing is stored. Kafka's
committed offsets are only written for lag tools (`commit`).

A batch is what is already fetched, up to `max_records`: `poll` waits for the first
record only (librdkafka's batch call waits its whole timeout unless the batch is
full, which would add that timeout to every event's lag at low load).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as RdTopicPartition

from payments.runtime.backoff import Backoff
from payments.runtime.kafka_clients import rdkafka_auth
from payments.runtime.observability.metrics import record_error

log = structlog.get_logger(__name__)

# Partitions → where to start each (None: the beginning).
Starts = Callable[[Sequence[int]], Mapping[int, int | None]]
Revoked = Callable[[Sequence[int]], None]

# The same failover as the kafka-python clients (payments.runtime.kafka_clients.FAST_FAILOVER):
# a member killed with -9 loses its partitions after 10 s, a new topic is seen within 30 s.
_FAILOVER = {
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 3_000,
    "topic.metadata.refresh.interval.ms": 30_000,
}
# Prefetch bounded to 16 MiB per consumer (librdkafka's default is 64 MiB): at ~500 bytes
# an event that is ~30,000 events ahead, and RSS stays flat during a catch-up.
_PREFETCH = {"queued.max.messages.kbytes": 16_384}


class EventSource:
    def __init__(
        self,
        *,
        bootstrap: str,
        group: str,
        topic: str,
        client_id: str,
        auth: Mapping[str, Any],
        max_records: int,
        starts: Starts,
        revoked: Revoked,
    ) -> None:
        self.topic = topic
        self.max_records = max_records
        self._starts = starts
        self._revoked = revoked
        self._log = log.bind(topic=topic, group=group)
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": client_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "on_commit": self._committed,
                "error_cb": self._client_error,
                **_FAILOVER,
                **_PREFETCH,
            }
            | rdkafka_auth(auth)
        )

    def subscribe_when_known(self, stop: threading.Event) -> None:
        """Join the group once the topic exists (or stop was asked for).

        Subscribed to a topic it cannot see yet, the client would only notice at its
        next metadata refresh.
        """
        backoff = Backoff(initial=0.2, cap=5.0)
        while not stop.is_set() and not self._topic_known():
            self._log.warning("waiting_for_topic")
            backoff.wait(stop)
        self._consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def poll(self, timeout: float) -> list[Message]:
        """The records already fetched (at most `max_records`), waiting `timeout` for the first."""
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        batch = [first]
        if self.max_records > 1:
            batch += self._consumer.consume(num_messages=self.max_records - 1, timeout=0)
        records = [message for message in batch if message.error() is None]
        if len(records) < len(batch):
            for message in batch:
                if message.error() is not None:
                    self._fetch_error(message.error())
        return records

    def owned(self) -> set[int]:
        return {tp.partition for tp in self._consumer.assignment() if tp.topic == self.topic}

    def seek(self, starts: Mapping[int, int | None]) -> None:
        """Move owned partitions to these offsets (records fetched before are dropped)."""
        for partition, offset in starts.items():
            self._consumer.seek(
                RdTopicPartition(
                    self.topic, partition, OFFSET_BEGINNING if offset is None else offset
                )
            )

    def commit(self, offsets: Mapping[int, int], *, wait: bool) -> None:
        """Kafka's committed offsets, for lag tools only; failures are logged, never raised."""
        owned = self.owned()  # another member may own (and commit) the rest by now
        mine = [RdTopicPartition(self.topic, p, o) for p, o in offsets.items() if p in owned]
        if not mine:
            return
        try:
            self._consumer.commit(offsets=mine, asynchronous=not wait)
        except KafkaException as exc:
            self._commit_failed(exc.args[0] if exc.args else exc)

    def close(self) -> None:
        self._consumer.close()

    def _topic_known(self) -> bool:
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=5)
        except KafkaException as exc:
            self._log.warning("source.metadata_failed", error=str(exc))
            return False
        topic = metadata.topics.get(self.topic)
        return topic is not None and topic.error is None and bool(topic.partitions)

    def _on_assign(self, consumer: Consumer, partitions: list[RdTopicPartition]) -> None:
        mine = [tp.partition for tp in partitions]
        try:
            starts = self._starts(mine)
        except Exception:
            # The partitions start at Kafka's committed offsets; the loop's first batch
            # finds they are not the stored ones and seeks (or its session restarts).
            self._log.exception("source.starts_failed", partitions=mine)
            record_error("consumer_starts_failed")
            consumer.assign(partitions)
            return
        for tp in partitions:
            offset = starts.get(tp.partition)
            tp.offset = OFFSET_BEGINNING if offset is None else offset
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[RdTopicPartition]) -> None:
        self._revoked([tp.partition for tp in partitions])

    def _fetch_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        self._log.warning("source.fetch_error", error=error.str(), code=error.name())
        record_error("consumer_fetch_error")

    def _client_error(self, error: KafkaError) -> None:
        # Brokers down, authentication refused: librdkafka keeps retrying; say so.
        self._log.warning("source.client_error", error=error.str(), code=error.name())

    def _committed(self, error: KafkaError | None, _partitions: Iterable[RdTopicPartition]) -> None:
        if error is not None:
            self._commit_failed(error)

    def _commit_failed(self, error: object) -> None:
        self._log.warning("consumer.kafka_commit_failed", error=str(error))
        record_error("consumer_kafka_commit_failed")
