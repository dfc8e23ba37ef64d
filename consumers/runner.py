"""Run projection consumers as threads of this process until SIGTERM/SIGINT.

`payments consume <name>` runs one projection here; `payments consume all --threads`
runs them all here, one thread each (`payments consume all` runs one child process
each instead: consumers.processes). Each has its own consumer group
(`<prefix>-projection-<name>`) and connection: the projections stay independent
(a replay of one hands new positions to that one only) and a slow one (audit)
does not hold back the others. Signals only set the stop flag; each loop finishes
its batch, commits and returns, and the process exits 0.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import structlog

from consumers.loop import ConsumerConfig, Fill, ProjectionConsumer
from payments.runtime.observability.server import CONSUMERS_PORT, start_observability
from payments.runtime.settings import Settings
from payments.runtime.stop_signals import install_stop_signals
from projections.audit.apply import fill_audit_gaps
from projections.catalog import APPLIERS, FOLLOWS

# Periodic reads from the event store: the audit log's missing positions. (Balances
# and settlements fill their version gaps inside `apply`, projections.gaps.)
FILLS: dict[str, Fill] = {"audit": fill_audit_gaps}

log = structlog.get_logger(__name__)


def consumer_config(settings: Settings, projection: str) -> ConsumerConfig:
    return ConsumerConfig(
        projection=projection,
        apply=APPLIERS[projection],
        database_url=settings.require_database_url(),
        bootstrap=settings.require_kafka_bootstrap(),
        topic=settings.topics.events,
        group=f"{settings.topic_prefix}-projection-{projection}",
        fill=FILLS.get(projection),
        kafka_auth=settings.kafka_python_auth(),
        follows=FOLLOWS[projection],
    )


def run_consumers(settings: Settings, projections: Sequence[str]) -> None:
    stop = threading.Event()
    install_stop_signals(stop)
    observability = start_observability(settings, CONSUMERS_PORT)  # None: disabled or taken
    loops = [ProjectionConsumer(consumer_config(settings, p), stop) for p in projections]
    threads = [
        threading.Thread(target=loop.run, name=f"consume-{loop.config.projection}")
        for loop in loops
    ]
    for thread in threads:
        thread.start()
    log.info("consumer.started", projections=list(projections))
    # join with a timeout so the main thread stays responsive to signals
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    if observability is not None:
        observability.stop()
