"""The engine: intake in this process, the relay in a child process of its own.

The relay decodes and re-encodes every stored event; in the intake's process it
competed for the GIL and cut throughput by a third. As a child it uses the other
core, and it dies with the engine (PR_SET_PDEATHSIG), so a kill -9 leaves nothing.
`payments relay` runs it alone.

SIGTERM and SIGINT only set a stop flag: the intake finishes the batch in hand
(stored, answered, committed) and the relay finishes its page, then both exit.
"""

from __future__ import annotations

import threading

import structlog

from payments.engine.intake import CommandIntake
from payments.engine.publisher import Publisher
from payments.engine.relay import EventRelay
from payments.ledger.service import Ledger
from payments.ledger.store import open_application
from payments.runtime.kafka_clients import command_consumer
from payments.runtime.observability import metrics
from payments.runtime.observability.server import (
    ENGINE_PORT,
    RELAY_PORT,
    metrics_port,
    start_observability,
)
from payments.runtime.settings import Settings
from payments.runtime.supervisor import ChildSpec, Supervisor

log = structlog.get_logger("payments.engine")


def run_relay(settings: Settings, stop: threading.Event) -> None:
    observability = start_observability(settings, RELAY_PORT)
    app = open_application(settings)
    relay = EventRelay(
        settings,
        app,
        Publisher(settings, "payments-relay"),
        on_page=metrics.record_relay,
        new_producer=lambda: Publisher(settings, "payments-relay"),
    )
    log.info("relay_process_started", topic=settings.topics.events)
    try:
        relay.run(stop)
    finally:
        relay.producer.close(timeout=10)
        app.close()
        if observability is not None:
            observability.stop()
        log.info("relay_process_stopped")


def relay_child(settings: Settings) -> ChildSpec:
    # The child reads the same environment: give it its own metrics port, next to
    # the engine's (9464 → 9466), or none when the engine has none.
    engine_port = metrics_port(settings, ENGINE_PORT)
    relay_port = engine_port + (RELAY_PORT - ENGINE_PORT) if engine_port else 0
    return ChildSpec("relay", ("relay",), {"PAYMENTS_METRICS_PORT": str(relay_port)})


def run_engine(settings: Settings, stop: threading.Event, *, relay: bool = True) -> None:
    observability = start_observability(settings, ENGINE_PORT)  # None: disabled or port taken
    app = open_application(settings)
    ledger = Ledger(app, holder_kek=settings.holder_kek())
    # A kill -9 of the engine takes its relay along (the supervisor's PR_SET_PDEATHSIG).
    supervisor = Supervisor([relay_child(settings)], stop) if relay else None
    if supervisor is not None:
        supervisor.start()
    consumer = command_consumer(settings)
    # No linger: a batch's answers are produced together anyway, and since the intake
    # no longer flushes, 5 ms of linger added 5 ms to every answer.
    producer = Publisher(settings, "payments-intake", linger_ms=0)
    log.info("engine_started", group=settings.engine_group, relay=relay)
    try:
        CommandIntake(settings, ledger, consumer, producer, on_batch=metrics.record_batch).run(stop)
    finally:
        stop.set()
        log.info("engine_stopping")
        consumer.close(autocommit=False)
        producer.close(timeout=10)
        if supervisor is not None:
            supervisor.shutdown()
        app.close()
        if observability is not None:
            observability.stop()
        log.info("engine_stopped")
