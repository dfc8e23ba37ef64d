"""Command intake: consume a batch, decide it in one transaction, answer, commit.

Transaction boundaries, and why a kill -9 anywhere loses and doubles nothing:

1. `poll` — nothing is stored yet; a crash here redelivers the batch.
2. `ledger.decide_batch` — one PostgreSQL transaction stores the events of every
   accepted command, a `CommandRecord.Decided` for every command and the consumed
   offsets. It commits entirely or not at all.
3. `publish` — outcomes and dead letters, then `flush` waits for the broker's acks.
   A crash before or during this redelivers the batch: every command now finds its
   CommandRecord and is answered again with `replayed: true`, applying nothing.
4. `commit` of Kafka offsets — only after the answers are acknowledged, so no
   command is ever left without an outcome on the results topic. The commit is
   asynchronous (the last one, at stop, is not): a commit lost in a crash only means
   the batch is read again and answered as `replayed`.

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
from payments.engine.publisher import Publisher, PublishError, UnpublishableMessage
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

    def run(self, stop: threading.Event) -> None:
        try:
            self._run(stop)
        finally:
            self._commit_last()

    def _run(self, stop: threading.Event) -> None:
        subscribe_when_known(self.consumer, self.topics.commands, stop)
        backoff = Backoff()
        while not stop.is_set():
            try:
                polled = self.consumer.poll(
                    timeout_ms=200, max_records=self.settings.engine_batch_max
                )
                if polled:
                    self.handle(polled, stop)
                backoff.reset()
            except KafkaError as error:
                log.warning("kafka_unavailable", error=repr(error))
                record_error("kafka_unavailable")
                backoff.wait(stop)

    def handle(
        self, polled: dict[TopicPartition, list], stop: threading.Event
    ) -> BatchReport | None:
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
            return None  # stopping before the batch was stored: it will be redelivered
        if not self._publish(outcomes, dead, stop):
            return None  # stopping with answers unconfirmed: redelivery will replay them
        self._commit(next_offsets)

        report = BatchReport(
            commands=len(commands),
            dead_letters=len(dead),
            accepted=sum(o.status == "accepted" for o in outcomes),
            rejected=sum(o.status == "rejected" for o in outcomes),
            replayed=sum(o.replayed for o in outcomes),
            seconds=time.perf_counter() - started,
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
        for letter in dead:
            log.warning(
                "dead_letter",
                reason=letter.reason,
                partition=letter.partition,
                offset=letter.offset,
            )
        log.info("batch_done", **report.__dict__)
        if self.on_batch is not None:
            self.on_batch(report, outcomes)
        return report

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

    def _publish(
        self, outcomes: Sequence[Outcome], dead: Sequence[DeadLetter], stop: threading.Event
    ) -> bool:
        """Send every answer and wait for the broker's acks; False if stopped first."""
        backoff = Backoff(initial=0.2, cap=10.0)
        while True:
            try:
                for outcome in outcomes:
                    document = outcome.to_json()
                    key = cut_key(document["command_id"].encode("utf-8", errors="replace"))
                    self._send_or_letter(self.topics.command_results, key, document)
                for letter in dead:
                    document = dead_letter(
                        letter.reason, letter.topic, letter.partition, letter.offset, letter.value
                    )
                    self._send_or_letter(self.topics.commands_dlq, cut_key(letter.key), document)
                self.producer.flush(timeout=30)
                return True
            except PublishError as error:
                # Re-sending is safe: outcomes are answers, clients match them by command_id.
                log.warning("publish_failed", error=str(error))
                record_error("publish_failed")
            if stop.is_set():
                return False
            backoff.wait(stop)

    def _send_or_letter(self, topic: str, key: bytes | None, document: dict) -> None:
        """Send one answer; one the broker can never take becomes a short dead letter."""
        try:
            self.producer.send(topic, key=key, value=encode(document))
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
                self.topics.commands_dlq, key=cut_key(key, 256), value=encode(letter)
            )

    def _commit(self, next_offsets: dict[TopicPartition, int]) -> None:
        """Commit without waiting for the broker (it was a sixth of the intake's time at
        low load): the batch is stored and answered already, so a commit that is lost
        only makes the next owner re-read it and answer it again as `replayed`. The
        last offsets are committed synchronously when the intake stops."""
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in next_offsets.items()}
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
