"""The engine process: intake on the main thread, the relay beside it.

SIGTERM and SIGINT only set a stop flag: the intake finishes the batch in hand
(stored, answered, committed) and the relay finishes its page, then both exit.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog

from payments.engine.intake import CommandIntake
from payments.engine.kafka_clients import command_consumer
from payments.engine.publisher import Publisher
from payments.engine.relay import EventRelay
from payments.ledger import Ledger
from payments.observability import metrics
from payments.observability.server import ENGINE_PORT, start_observability
from payments.settings import Settings
from payments.store import open_application

log = structlog.get_logger("payments.engine")


def install_stop_signals(stop: threading.Event) -> None:
    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def run_engine(settings: Settings, stop: threading.Event, *, relay: bool = True) -> None:
    observability = start_observability(settings, ENGINE_PORT)  # None: disabled or port taken
    app = open_application(settings)
    ledger = Ledger(app)
    relay_thread: threading.Thread | None = None
    if relay:
        event_relay = EventRelay(
            settings,
            app,
            Publisher(settings, "payments-relay"),
            on_page=metrics.record_relay,
        )
        relay_thread = threading.Thread(target=event_relay.run, args=(stop,), name="relay")
        relay_thread.start()
    consumer = command_consumer(settings)
    producer = Publisher(settings, "payments-intake")
    log.info("engine_started", group=settings.engine_group, relay=relay)
    try:
        CommandIntake(settings, ledger, consumer, producer, on_batch=metrics.record_batch).run(stop)
    finally:
        stop.set()
        consumer.close(autocommit=False)
        producer.close(timeout=10)
        if relay_thread is not None:
            relay_thread.join(timeout=30)
        app.close()
        if observability is not None:
            observability.stop()
        log.info("engine_stopped")
