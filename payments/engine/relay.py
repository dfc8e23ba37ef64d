"""Event relay: every stored event, in store order, onto `payments.events`.

The event store's notification log is the outbox. The relay reads the events after
its tracked position, sends them (idempotent producer, acks=all), waits for the
broker's acknowledgement, and only then advances the position in its own
transaction. A kill -9 between the two re-sends a page; it never skips one.
Consumers drop the re-sent copies by position and aggregate version.

Gaps in notification ids (rolled-back inserts burn sequence values) are skipped
naturally: the relay asks for "everything after the last id seen", and because
writers are serialized, an id below a committed one never commits later.

One relay publishes to a topic at a time: it holds a session-level PostgreSQL
advisory lock (keyed by the topic name) on its own connection, so a second engine's
relay waits until the first one dies. The tracked position is per topic too: a new
topic prefix receives the whole history from the first event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import structlog
from eventsourcing.persistence import PersistenceError

from payments.contract import fast_json
from payments.contract.wire import event_headers, notification_message
from payments.engine.publisher import Publisher, PublishError
from payments.ledger.store import PaymentsApplication
from payments.runtime.backoff import Backoff
from payments.runtime.observability.metrics import record_error
from payments.runtime.settings import Settings

log = structlog.get_logger("payments.relay")


class EventRelay:
    def __init__(
        self,
        settings: Settings,
        app: PaymentsApplication,
        producer: Publisher,
        page_size: int = 2000,
        on_page: Callable[[int, int], None] | None = None,
        new_producer: Callable[[], Publisher] | None = None,
    ) -> None:
        self.settings = settings
        self.app = app
        self.producer = producer
        self.new_producer = new_producer
        self.page_size = page_size
        self.on_page = on_page
        self.topic = settings.topics.events

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(initial=0.2, cap=5.0)
        while not stop.is_set():
            try:
                with psycopg.connect(self.settings.require_database_url(), autocommit=True) as conn:
                    if not self._acquire_lock(conn, stop):
                        return
                    log.info("relay_started")
                    backoff.reset()
                    self._relay_while_leader(conn, stop)
            except (psycopg.OperationalError, PersistenceError, PublishError) as error:
                log.warning("relay_interrupted", error=str(error))
                record_error("relay_interrupted")
                if isinstance(error, PublishError):
                    self._replace_producer()
                backoff.wait(stop)

    def _replace_producer(self) -> None:
        # After a broker restart librdkafka's producer was seen to keep a page unacked
        # for good (fault suite, restart_broker: the same messages unacked minute after
        # minute) while a new producer of the same process was served at once. The page
        # is sent again from the stored position either way, so the old queue is dropped.
        if self.new_producer is None:
            return
        self.producer.abandon()
        self.producer = self.new_producer()
        log.info("relay_producer_replaced")

    def _acquire_lock(self, conn: psycopg.Connection, stop: threading.Event) -> bool:
        while not stop.is_set():
            row = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext('relay:' || %s))", (self.topic,)
            ).fetchone()
            if row and row[0]:
                return True
            stop.wait(1.0)  # another engine's relay is publishing
        return False

    def _relay_while_leader(self, conn: psycopg.Connection, stop: threading.Event) -> None:
        position = self._load_position(conn)
        idle = 0.005
        while not stop.is_set():
            published = self.relay_page(conn, position)
            if published is None:
                stop.wait(idle)
                idle = min(idle * 2, 0.1)
                continue
            position = published
            idle = 0.005

    def relay_page(self, conn: psycopg.Connection, position: int) -> int | None:
        """Publish the next page after `position`; return the new position, or None."""
        notifications = self.app.recorder.select_notifications(
            start=position + 1, limit=self.page_size
        )
        if not notifications:
            return None
        for notification in notifications:
            message = notification_message(notification, self.app.mapper)
            self.producer.send(
                self.topic,
                key=str(message["aggregate_id"]).encode(),
                value=fast_json.dumps(message),
                headers=event_headers(message),
            )
        self.producer.flush(timeout=60)  # raises before the position moves if any failed
        last = notifications[-1].id
        conn.execute(
            "INSERT INTO relay_position (name, notification_id) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET notification_id = EXCLUDED.notification_id",
            (self.topic, last),
        )
        log.debug("relay_page", first=notifications[0].id, last=last, count=len(notifications))
        if self.on_page is not None:
            self.on_page(last, len(notifications))
        return last

    def _load_position(self, conn: psycopg.Connection) -> int:
        row = conn.execute(
            "SELECT notification_id FROM relay_position WHERE name = %s", (self.topic,)
        ).fetchone()
        return int(row[0]) if row else 0
