"""One projection fed from the events topic: poll → apply + positions in one tx → commit.

Exactly-once into the projection without Kafka transactions: the offsets a batch
covers (`projection_positions`) are written in the same PostgreSQL transaction as its
rows, and on assignment each partition is sought to the stored offset. Kafka's own
committed offsets are written afterwards, best effort, for lag tools only.

Fencing: the loop remembers the offsets it last stored. If the stored ones differ
when a batch commits (a replay handed over new positions, or another consumer took
the partition during a rebalance), the batch is rolled back and the loop seeks to
what the database says.

A batch that starts before the stored offset of a partition (records fetched before a
seek) is dropped the same way: nothing is applied twice whatever the client delivers.
The records come from `consumers.source` (librdkafka). A record whose header names an
aggregate type the projection does not follow is passed over undecoded
(`projections.headers`); its offset is stored like any other.

Kafka's committed offsets only inform lag tools, so they are committed without
waiting and at most every `kafka_commit_every` seconds, the last ones when the
session ends: the synchronous commit after every batch was a tenth of the loop's
time (py-spy, run `20261202221130-2358e1`).

Poison: a record that is not an event, or whose event the projection cannot store
(PostgreSQL refuses a value, the store lacks its predecessors), is quarantined in
the batch's own transaction and passed over (`projections.quarantine`): a failing
batch is re-applied one event at a time, under a savepoint each, to find it. Health
stays red and the metric counts it until an operator acknowledges the row; the loop
re-reads the open quarantine every `alarm_every` seconds.

`fill` (the audit log's) runs every `fill_every` seconds: it reads from the event
store what the projection has waited for a whole interval (`projections.gaps`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from confluent_kafka import Message

from consumers.source import EventSource
from payments.runtime.backoff import Backoff
from payments.runtime.observability.metrics import (
    clear_alarm,
    raise_alarm,
    record_error,
    record_poison,
    record_projection,
    record_quarantine,
)
from projections.events import BadEvent, Event, parse_event
from projections.headers import header_position, passed_over
from projections.positions import load_positions, save_positions
from projections.quarantine import (
    POISON_ERRORS,
    Quarantined,
    open_quarantine,
    poisoned,
    quarantine,
)

Apply = Callable[[psycopg.Cursor, Sequence[Event]], object]
# Reads what the projection has waited for since the last call; returns what it still waits for.
Fill = Callable[[psycopg.Cursor, frozenset[int]], frozenset[int]]
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ConsumerConfig:
    projection: str
    apply: Apply
    database_url: str
    bootstrap: str
    topic: str
    group: str
    max_records: int = 1000
    poll_timeout_ms: int = 500
    fill: Fill | None = None
    fill_every: float = 5.0
    alarm_every: float = 5.0
    kafka_commit_every: float = 1.0
    # SASL as kafka-python's arguments (Settings.kafka_python_auth()); empty: PLAINTEXT.
    kafka_auth: Mapping[str, Any] = field(default_factory=dict)
    # Aggregate types the projection follows (projections.catalog.FOLLOWS): records whose
    # header names another are passed over undecoded. None: decode every record.
    follows: frozenset[bytes] | None = None


def out_of_step(
    first_offsets: Mapping[int, int],
    expected: Mapping[int, int | None],
    stored: Mapping[int, int],
) -> bool:
    """Whether a batch must be dropped and its partitions sought to the stored positions.

    `first_offsets`: each partition's first record in the batch. Out of step: a
    partition this loop holds no position for, a stored position that moved under it
    (a replay, another member), or a batch starting before the position (records that
    are already applied: never twice).
    """
    return any(
        partition not in expected
        or stored.get(partition) != expected[partition]
        or first < (expected[partition] or 0)
        for partition, first in first_offsets.items()
    )


class _Resync(Exception):
    """The database's positions are not the ones this loop expected."""


class ProjectionConsumer:
    def __init__(self, config: ConsumerConfig, stop: threading.Event) -> None:
        self.config = config
        self.stop = stop
        # partition → next offset last stored (None: nothing stored, read from start).
        self.expected: dict[int, int | None] = {}
        self.log = log.bind(projection=config.projection, topic=config.topic)
        self.applied = 0  # events applied by this process (for tests and logs)
        self.passed_over = 0  # records of aggregates the projection does not follow
        self.resyncs = 0  # batches dropped because the stored positions had moved
        self.quarantined = 0  # records quarantined by this process
        self.waiting: frozenset[int] = frozenset()  # what `fill` saw missing last time
        self._next_fill = 0.0
        self._next_alarm = 0.0
        self._next_kafka_commit = 0.0
        # partition → next offset stored in PostgreSQL, not yet committed to Kafka.
        self._kafka_uncommitted: dict[int, int] = {}

    def run(self) -> None:
        """Consume until `stop` is set; outages are retried with capped backoff."""
        backoff = Backoff(initial=0.2, cap=30.0)
        while not self.stop.is_set():
            try:
                self._session(backoff)
            except Exception:
                self.log.exception("consumer.failed_retrying")
                record_error("consumer_failed")
                backoff.wait(self.stop)
        self.log.info("consumer.stopped", applied=self.applied)

    def _session(self, backoff: Backoff) -> None:
        self.expected.clear()
        self._next_alarm = 0.0  # re-read the open quarantine first thing
        with psycopg.connect(
            self.config.database_url,
            autocommit=True,
            application_name=self.config.group[-63:],  # who's who in pg_stat_activity
            connect_timeout=10,
        ) as conn:
            # Rebalance callbacks run inside source.poll, on this thread: they may use conn.
            source = EventSource(
                bootstrap=self.config.bootstrap,
                group=self.config.group,
                topic=self.config.topic,
                client_id=f"payments-projection-{self.config.projection}",
                auth=self.config.kafka_auth,
                max_records=self.config.max_records,
                starts=lambda partitions: self.stored_starts(conn, partitions),
                revoked=self._revoked,
            )
            try:
                source.subscribe_when_known(self.stop)
                while not self.stop.is_set():
                    records = source.poll(self.config.poll_timeout_ms / 1000)
                    if records:
                        self._handle(source, conn, records)
                    self._housekeeping(conn)
                    backoff.reset()
            finally:
                self._commit_kafka(source, final=True)
                source.close()

    def _handle(
        self, source: EventSource, conn: psycopg.Connection, records: list[Message]
    ) -> None:
        events: list[tuple[Event, int, int, bytes | None]] = []
        poison: list[Quarantined] = []
        first_offsets: dict[int, int] = {}
        next_offsets: dict[int, int] = {}
        last_passed_over: dict[int, Message] = {}  # for the position metric
        passed = 0
        follows = self.config.follows
        for record in records:
            partition, offset = record.partition(), record.offset()
            first_offsets.setdefault(partition, offset)
            next_offsets[partition] = offset + 1  # a partition's records come in order
            if follows is not None and passed_over(record.headers(), follows):
                last_passed_over[partition] = record
                passed += 1
                continue
            value = record.value()
            try:
                events.append((parse_event(value), partition, offset, value))
            except BadEvent as exc:
                poison.append(poisoned(partition, offset, exc, value))
        try:
            with conn.transaction(), conn.cursor() as cur:
                stored = load_positions(cur, self.config.projection, self.config.topic, lock=True)
                if out_of_step(first_offsets, self.expected, stored):
                    raise _Resync
                applied = self._apply(conn, cur, events, poison)
                new_poison = quarantine(cur, self.config.projection, self.config.topic, poison)
                save_positions(cur, self.config.projection, self.config.topic, next_offsets)
        except _Resync:
            self.resyncs += 1
            self.log.info("consumer.resync", stored=stored, expected=self.expected)
            source.seek(self.stored_starts(conn, sorted(source.owned())))
            return
        for item in new_poison:
            self.log.error(
                "consumer.record_quarantined",
                partition=item.partition,
                offset=item.offset,
                reason=item.reason,
            )
            record_poison(self.config.projection, item.label)
        if new_poison:
            self.quarantined += len(new_poison)
            self._next_alarm = 0.0  # red health now, not at the next refresh
        events = applied
        self.expected.update(next_offsets)
        self.applied += len(events)
        self.passed_over += passed
        positions = [e["position"] for e in events]
        positions += [header_position(r.headers()) or 0 for r in last_passed_over.values()]
        if positions:
            # Partitions arrive out of step; the metric keeps the highest position seen.
            record_projection(self.config.projection, max(positions))
        self.log.debug("consumer.batch", events=len(events), offsets=next_offsets)
        self._kafka_uncommitted.update(next_offsets)
        self._commit_kafka(source)

    def _commit_kafka(self, source: EventSource, final: bool = False) -> None:
        """Kafka's offsets, for lag tools: the database holds the truth; a courtesy."""
        now = time.monotonic()
        if not self._kafka_uncommitted or (not final and now < self._next_kafka_commit):
            return
        self._next_kafka_commit = now + self.config.kafka_commit_every
        offsets, self._kafka_uncommitted = self._kafka_uncommitted, {}
        source.commit(offsets, wait=final)

    def _apply(
        self,
        conn: psycopg.Connection,
        cur: psycopg.Cursor,
        events: list[tuple[Event, int, int, bytes | None]],
        poison: list[Quarantined],
    ) -> list[Event]:
        """Apply the batch; if its content fails, one event at a time. Returns those applied."""
        try:
            with conn.transaction():  # a savepoint: a failed batch leaves no trace
                self.config.apply(cur, [event for event, *_ in events])
            return [event for event, *_ in events]
        except POISON_ERRORS as exc:
            self.log.warning("consumer.batch_poisoned_isolating", error=str(exc)[:300])
        applied = []
        for event, partition, offset, value in events:
            try:
                with conn.transaction():
                    self.config.apply(cur, [event])
                applied.append(event)
            except POISON_ERRORS as exc:
                poison.append(poisoned(partition, offset, exc, value))
        return applied

    def _housekeeping(self, conn: psycopg.Connection) -> None:
        """Between polls: the periodic store fill, and the open quarantine for health."""
        now = time.monotonic()
        if self.config.fill is not None and now >= self._next_fill:
            self._next_fill = now + self.config.fill_every
            alarm = f"{self.config.projection}.fill"
            try:
                with conn.transaction(), conn.cursor() as cur:
                    self.waiting = self.config.fill(cur, self.waiting)
                clear_alarm(alarm)
            except POISON_ERRORS as exc:
                # A stored event this projection cannot hold: red, loud, and tried again
                # (it cannot be passed over: the audit chain holds every stored event).
                self.log.error("consumer.fill_failed", error=str(exc)[:1000])
                record_poison(self.config.projection, "unstorable_stored")
                raise_alarm(alarm, f"a stored event cannot be applied: {str(exc)[:300]}")
                self.waiting = frozenset()
        if now >= self._next_alarm:
            self._next_alarm = now + self.config.alarm_every
            with conn.transaction(), conn.cursor() as cur:
                state = open_quarantine(cur, self.config.projection)
            record_quarantine(self.config.projection, state.count, state.last_reason)

    def stored_starts(
        self, conn: psycopg.Connection, partitions: Sequence[int]
    ) -> dict[int, int | None]:
        """Where the database says these partitions go on; they are expected there now."""
        with conn.transaction(), conn.cursor() as cur:
            stored = load_positions(cur, self.config.projection, self.config.topic)
        starts = {p: stored.get(p) for p in partitions}
        self.expected.update(starts)
        self.log.info("consumer.sought", positions=starts)
        return starts

    def _revoked(self, partitions: Sequence[int]) -> None:
        for partition in partitions:
            self.expected.pop(partition, None)
