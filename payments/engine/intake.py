"""Command intake: consume a batch, decide it in one transaction, answer, commit.

Transaction boundaries, and why a kill -9 anywhere loses and doubles nothing:

1. `poll` — nothing is stored yet; a crash here redelivers the batch.
2. `ledger.decide_batch` — one PostgreSQL transaction stores the events of every
   accepted command, a `CommandRecord.Decided` for every command and the consumed
   offsets. It commits entirely or not at all. (The offsets stored there are a
   record, not where the intake resumes: that is Kafka's committed offset alone.)
3. `_send_answers` — outcomes and dead letters are handed to librdkafka, each
   counted in the batch's `Delivery`; the intake does not wait for the acks but
   polls and decides the next batch (at most `MAX_BATCHES_IN_FLIGHT` batches wait).
   A crash before every answer of a batch is acked redelivers that batch and every
   later one (their offsets are not committed, step 4): each command finds its
   CommandRecord and is answered again with `replayed: true`, applying nothing.
4. `_settle` commits Kafka offsets batch by batch in poll order (`in_flight`), a
   batch only once the broker acked its answers and those of every earlier batch,
   so no command is ever left without an outcome on the results topic. A batch with
   a failed answer blocks the intake until its answers are sent again and acked.
   The commit is asynchronous (the last one, at stop, after `_drain` waited for the
   acks in flight, is not): a commit lost in a crash only means the batches are
   read again and answered as `replayed`.

Batch n+1 is stored while batch n's answers may still be unacked; it never is
before batch n is stored (`decide_batch` returns after the commit), so PostgreSQL
holds a prefix of the polls, and Kafka's committed offset never passes an
unanswered command.

Not done: deciding batch n+1 while batch n's PostgreSQL commit is in flight (the
save, ~4–6 ms a batch, is now the largest fixed cost; `intake_latency` measures it).
It would need batch n+1 decided on batch n's uncommitted state and stored only if
batch n committed (one connection, commits in order, and on n's failure n+1's
working set and cache entries dropped before anything of it is answered), which
`decide_batch`'s one-call transaction does not offer today.

One record's content never stalls a poll: reading it cannot raise (a dead letter
instead), the ledger contains every failure to its command (see
`payments.ledger.service`), and an answer always encodes and fits the broker (cut by
`payments.contract.wire`; one the broker would still refuse becomes a short dead
letter). Only outages of Kafka or PostgreSQL are retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from payments.contract.wire import cut, cut_key, dead_letter, encode
from payments.engine.in_flight import AnsweredBatch, InFlight
from payments.engine.publisher import Delivery, Publisher, PublishError, UnpublishableMessage
from payments.engine.records import DeadLetter, read_command
from payments.ledger.service import (
    IncomingCommand,
    Ledger,
    LedgerConflictError,
    Outcome,
    internal_error_outcome,
)
from payments.runtime.backoff import Backoff
from payments.runtime.kafka_clients import subscribe_when_known
from payments.runtime.observability.metrics import record_error
from payments.runtime.settings import Settings

log = structlog.get_logger("payments.intake")

# Batches whose answers may wait for the broker's acks while the next ones are decided.
MAX_BATCHES_IN_FLIGHT = 8
# The poll's timeout, also with answers in flight (whose offsets then wait for the next
# poll to return): kafka-python 3.0 did not complete its group join with 10 ms polls,
# every commit failed with RebalanceInProgressError (776 in a 771-batch run).
POLL_TIMEOUT_MS = 200
# How long a stopping intake waits for the acks of the answers in flight.
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class BatchReport:
    commands: int
    dead_letters: int
    accepted: int
    rejected: int
    replayed: int
    seconds: float


class CommandIntake:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        consumer: KafkaConsumer,
        producer: Publisher,
        on_batch: Callable[[BatchReport, Sequence[Outcome]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.consumer = consumer
        self.producer = producer
        self.on_batch = on_batch
        self.topics = settings.topics
        self._uncommitted: dict[TopicPartition, OffsetAndMetadata] = {}
        self._in_flight = InFlight()

    def run(self, stop: threading.Event) -> None:
        try:
            self._run(stop)
        finally:
            self._drain()
            self._commit_last()

    def _run(self, stop: threading.Event) -> None:
        subscribe_when_known(self.consumer, self.topics.commands, stop)
        backoff = Backoff()
        while not stop.is_set():
            try:
                polled = self.consumer.poll(
                    timeout_ms=POLL_TIMEOUT_MS, max_records=self.settings.engine_batch_max
                )
                if polled:
                    self.handle(polled, stop)
                self._settle(stop)
                backoff.reset()
            except KafkaError as error:
                log.warning("kafka_unavailable", error=repr(error))
                record_error("kafka_unavailable")
                backoff.wait(stop)

    def handle(self, polled: dict[TopicPartition, list], stop: threading.Event) -> bool:
        """Decide, store and send the answers of one poll; False if stopped first.

        The batch's offsets are committed later, by `_settle`, once the broker has
        acknowledged its answers and those of every earlier batch.
        """
        started = time.perf_counter()
        commands: list[IncomingCommand] = []
        dead: list[DeadLetter] = []
        next_offsets: dict[TopicPartition, int] = {}
        for partition, records in polled.items():
            for record in records:
                read = read_command(
                    record.topic, record.partition, record.offset, record.key, record.value
                )
                (dead if isinstance(read, DeadLetter) else commands).append(read)  # type: ignore[arg-type]
            next_offsets[partition] = records[-1].offset + 1

        outcomes = self._decide(commands, dead, stop)
        if outcomes is None:
            return False  # stopping before the batch was stored: it will be redelivered
        delivery = self._send_answers(outcomes, dead, stop)
        if delivery is None:
            return False  # stopping with answers unsent: redelivery will replay them
        self._in_flight.add(
            AnsweredBatch(next_offsets, outcomes, dead, delivery, started, len(commands))
        )
        # Bounded: answers the broker is slow to take hold the next polls back.
        while len(self._in_flight) > MAX_BATCHES_IN_FLIGHT and not stop.is_set():
            self.producer.poll(0.01)
            self._settle(stop)
        return True

    def _settle(self, stop: threading.Event) -> None:
        """Commit, in poll order, every batch whose answers (and all earlier) are acked."""
        self.producer.poll(0)  # serve the delivery callbacks of acks that arrived
        for batch in self._in_flight.settled_prefix():
            if not batch.delivery.acknowledged and not self._publish(
                batch.outcomes, batch.dead, stop
            ):
                # Stopping with this batch's answers unconfirmed: neither it nor any
                # later batch is committed; their redelivery replays them.
                self._in_flight.take_all()
                return
            self._commit(batch.next_offsets)
            self._report(batch)

    def _drain(self) -> None:
        """At stop: wait for the acks of the batches in flight and commit those acked."""
        if not self._in_flight:
            return
        stopping = threading.Event()
        stopping.set()  # a failed batch's answers get one more try, not a retry loop
        try:
            deadline = time.monotonic() + DRAIN_SECONDS
            while (oldest := self._in_flight.oldest()) is not None:
                if not oldest.delivery.settled and time.monotonic() > deadline:
                    break
                self.producer.poll(0.05)
                self._settle(stopping)
        except KafkaError as error:
            log.warning("kafka_unavailable", error=repr(error))
        left = self._in_flight.take_all()
        if left:
            # Stored but not all answered: the next owner re-reads and replays them.
            log.warning("answers_unconfirmed_at_stop", batches=len(left))

    def _report(self, batch: AnsweredBatch) -> None:
        outcomes = batch.outcomes
        report = BatchReport(
            commands=batch.commands,
            dead_letters=len(batch.dead),
            accepted=sum(o.status == "accepted" for o in outcomes),
            rejected=sum(o.status == "rejected" for o in outcomes),
            replayed=sum(o.replayed for o in outcomes),
            seconds=time.perf_counter() - batch.started,
        )
        # One line per command; its duration is its batch's (decided, stored and
        # answered together), from poll to acknowledged answer.
        duration_ms = round(report.seconds * 1000, 1)
        for outcome in outcomes:
            log.info(
                "command_decided",
                command_id=cut(outcome.command_id, 200),  # one line each, even for huge ids
                type=None if outcome.type is None else cut(outcome.type, 200),
                status=outcome.status,
                code=outcome.code,
                replayed=outcome.replayed,
                duration_ms=duration_ms,
            )
        for letter in batch.dead:
            log.warning(
                "dead_letter",
                reason=letter.reason,
                partition=letter.partition,
                offset=letter.offset,
            )
        log.info("batch_done", **report.__dict__)
        if self.on_batch is not None:
            self.on_batch(report, outcomes)

    def _decide(
        self, commands: list[IncomingCommand], dead: list[DeadLetter], stop: threading.Event
    ) -> list[Outcome] | None:
        # Dead letters are consumed too: their offsets move the stored position on.
        consumed = [(letter.topic, letter.partition, letter.offset) for letter in dead]
        backoff = Backoff(initial=0.2, cap=10.0)
        while True:
            try:
                return self.ledger.decide_batch(
                    commands, consumer_group=self.settings.engine_group, consumed=consumed
                )
            except (OperationalError, InterfaceError) as error:
                # The database is away: keep the batch in hand and try again later.
                log.warning("database_unavailable", error=str(error), batch=len(commands))
                record_error("database_unavailable")
            except LedgerConflictError as error:
                # Contention with other engines, not content: try the batch again later.
                log.warning("batch_conflicting", error=str(error), batch=len(commands))
                record_error("batch_conflicting")
            except Exception:
                # Nothing of the batch was stored (one transaction). Rather than retry the
                # poll forever for what may be one record, decide its commands one by one.
                log.exception("batch_failed", batch=len(commands))
                record_error("batch_failed")
                try:
                    return self._decide_one_by_one(commands, consumed)
                except (OperationalError, InterfaceError, LedgerConflictError):
                    pass  # an outage after all: back off and try the batch again
                except Exception:
                    log.exception("batch_failed_one_by_one", batch=len(commands))
            if stop.is_set():
                return None
            backoff.wait(stop)

    def _decide_one_by_one(
        self, commands: list[IncomingCommand], consumed: list[tuple[str, int, int]]
    ) -> list[Outcome]:
        """Each command in its own transaction; one that still fails gets `internal_error`.

        Its offset alone is then stored, so it is answered and passed. A failure that
        every command of the poll shares is the store's, not a command's: it propagates
        (and the poll is retried), so a broken store never turns valid commands into
        rejections.
        """
        group = self.settings.engine_group
        outcomes: list[Outcome] = []
        failures: list[Exception] = []
        for command in commands:
            try:
                outcomes.extend(self.ledger.decide_batch([command], consumer_group=group))
            except (OperationalError, InterfaceError, LedgerConflictError):
                raise
            except Exception as error:
                if len(failures) == len(outcomes) == len(commands) - 1:
                    raise  # not one command could be decided: not about content
                failures.append(error)
                log.exception("command_failed", source=command.source)
                record_error("command_failed")
                self.ledger.decide_batch(
                    [], consumer_group=group, consumed=[command.source] if command.source else []
                )
                outcomes.append(internal_error_outcome(command))
        if consumed:
            self.ledger.decide_batch([], consumer_group=group, consumed=consumed)
        return outcomes

    def _send_answers(
        self, outcomes: Sequence[Outcome], dead: Sequence[DeadLetter], stop: threading.Event
    ) -> Delivery | None:
        """Send every answer without waiting for the acks; None if stopped first."""
        backoff = Backoff(initial=0.2, cap=10.0)
        while True:
            delivery = Delivery()
            try:
                self._send_all(outcomes, dead, delivery)
                return delivery
            except PublishError as error:
                # Re-sending is safe: outcomes are answers, clients match them by command_id.
                log.warning("publish_failed", error=str(error))
                record_error("publish_failed")
            if stop.is_set():
                return None
            backoff.wait(stop)

    def _send_all(
        self, outcomes: Sequence[Outcome], dead: Sequence[DeadLetter], delivery: Delivery | None
    ) -> None:
        for outcome in outcomes:
            document = outcome.to_json()
            key = cut_key(document["command_id"].encode("utf-8", errors="replace"))
            self._send_or_letter(self.topics.command_results, key, document, delivery)
        for letter in dead:
            document = dead_letter(
                letter.reason, letter.topic, letter.partition, letter.offset, letter.value
            )
            self._send_or_letter(self.topics.commands_dlq, cut_key(letter.key), document, delivery)

    def _publish(
        self, outcomes: Sequence[Outcome], dead: Sequence[DeadLetter], stop: threading.Event
    ) -> bool:
        """Send every answer again and wait for the broker's acks; False if stopped first.

        For a batch some of whose answers the broker failed: it blocks the intake, as
        the batches behind it cannot be committed before it anyway."""
        backoff = Backoff(initial=0.2, cap=10.0)
        while True:
            try:
                self._send_all(outcomes, dead, None)
                self.producer.flush(timeout=30)
                return True
            except PublishError as error:
                # Re-sending is safe: outcomes are answers, clients match them by command_id.
                log.warning("publish_failed", error=str(error))
                record_error("publish_failed")
            if stop.is_set():
                return False
            backoff.wait(stop)

    def _send_or_letter(
        self, topic: str, key: bytes | None, document: dict, delivery: Delivery | None
    ) -> None:
        """Send one answer; one the broker can never take becomes a short dead letter."""
        try:
            self.producer.send(topic, key=key, value=encode(document), delivery=delivery)
        except UnpublishableMessage as error:
            log.error("answer_unpublishable", topic=topic, error=str(error)[:200])
            record_error("answer_unpublishable")
            letter = {
                "reason": f"its answer could not be published: {str(error)[:200]}",
                "answer_topic": topic,
                "command_id": cut(str(document.get("command_id")), 256),
                "source_offset": document.get("source_offset"),
            }
            self.producer.send(
                self.topics.commands_dlq,
                key=cut_key(key, 256),
                value=encode(letter),
                delivery=delivery,
            )

    def _commit(self, next_offsets: dict[TopicPartition, int]) -> None:
        """Commit without waiting for the broker (it was a sixth of the intake's time at
        low load): the batch is stored and answered already, so a commit that is lost
        only makes the next owner re-read it and answer it again as `replayed`. The
        last offsets are committed synchronously when the intake stops."""
        # Only partitions still ours: after a rebalance, a batch answered late must not
        # move back what the partition's new owner committed.
        owned = self.consumer.assignment()
        offsets = {
            tp: OffsetAndMetadata(offset, "", -1)
            for tp, offset in next_offsets.items()
            if tp in owned
        }
        if not offsets:
            return
        self._uncommitted.update(offsets)
        try:
            self.consumer.commit_async(offsets, callback=_log_failed_commit)
        except KafkaError as error:
            _log_failed_commit(offsets, error)

    def _commit_last(self) -> None:
        """The final, synchronous commit of what this intake answered."""
        # Only partitions still ours: another owner may have committed further.
        owned = self.consumer.assignment()
        last = {tp: meta for tp, meta in self._uncommitted.items() if tp in owned}
        self._uncommitted = {}
        if not last:
            return
        try:
            self.consumer.commit(last)
        except (CommitFailedError, KafkaError) as error:
            _log_failed_commit(last, error)


def _log_failed_commit(offsets: object, result: object) -> None:
    """commit_async's callback: a failure is logged (the next owner answers again)."""
    if isinstance(result, Exception):
        # A rebalance took the partitions: their new owner re-reads the batch and
        # answers it from the stored CommandRecords, so nothing is applied twice.
        log.warning("offset_commit_failed", error=repr(result))
        record_error("offset_commit_failed")
