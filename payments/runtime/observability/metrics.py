"""Prometheus metrics of the engine and the consumers, and the positions behind lag.

The engine and the consumers call four functions: `record_batch(report, outcomes)`
after each intake batch, `record_relay(position, count)` after each relayed page,
`record_projection(name, position)` after each applied poll, and `record_error(kind)`
when they back off from a failure; the consumers also count quarantined records
(`record_poison`) and report the open quarantine (`record_quarantine`), which raises an
alarm: /health is red while any alarm stands. The health monitor adds the event store's
highest notification id (`record_store_position`), which turns positions into lag:
lag = store position − relay (or projection) position, in events.

Label values are kept to a bounded set: a client may send any `type` string, and
one time series per invented type would let a client exhaust the metrics server.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from payments.domain.commands import COMMAND_TYPES
from payments.domain.errors import REJECTION_CODES, InternalError

KNOWN_CODES = frozenset((*REJECTION_CODES, InternalError.code))
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)
DECISION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1)
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class BatchReportLike(Protocol):
    """What `payments.engine.intake.BatchReport` offers (structural, no import cycle)."""

    commands: int
    dead_letters: int
    seconds: float


class OutcomeLike(Protocol):
    """What `payments.ledger.Outcome` offers."""

    type: str | None
    status: str
    code: str | None
    replayed: bool


def type_label(command_type: str | None) -> str:
    if command_type is None:
        return "none"
    return command_type if command_type in COMMAND_TYPES else "unknown"


def code_label(code: str | None) -> str:
    if code is None:
        return ""
    return code if code in KNOWN_CODES else "other"


class Metrics:
    """Every metric of one process, registered in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            "payments_commands",
            "Commands decided, by type and outcome (code is empty when accepted).",
            ["type", "status", "code"],
            registry=r,
        )
        self.replayed = Counter(
            "payments_commands_replayed",
            "Commands answered again from their stored outcome (idempotent re-sends).",
            ["type"],
            registry=r,
        )
        self.dead_letters = Counter(
            "payments_dead_letters", "Records sent to the dead-letter topic.", registry=r
        )
        self.batch_size = Histogram(
            "payments_batch_commands",
            "Commands per intake batch.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "payments_batch_duration_seconds",
            "Wall time of one intake batch: read, decide, store, answer, commit.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=r,
        )
        self.decision_seconds = Histogram(
            "payments_command_decision_seconds",
            "Seconds per command, observed once per batch (batch seconds / commands).",
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self.relay_position = Gauge(
            "payments_relay_position",
            "Notification id of the last event the relay published.",
            registry=r,
        )
        self.relayed = Counter(
            "payments_relay_events", "Events published to the events topic.", registry=r
        )
        self.store_position = Gauge(
            "payments_store_position",
            "Highest notification id in the event store (last sample).",
            registry=r,
        )
        self.relay_lag = Gauge(
            "payments_relay_lag_events",
            "Events stored but not yet published: store position - relay position.",
            registry=r,
        )
        self.projection_position = Gauge(
            "payments_projection_position",
            "Highest event position a projection has applied.",
            ["projection"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "payments_consumer_lag_events",
            "Events stored but not yet applied: store position - projection position.",
            ["projection"],
            registry=r,
        )
        self.poison = Counter(
            "payments_projection_poison_events",
            "Records a projection quarantined instead of applying (projections.quarantine).",
            ["projection", "reason"],
            registry=r,
        )
        self.quarantined = Gauge(
            "payments_projection_quarantined_events",
            "Quarantined records not yet acknowledged by an operator (health is red above 0).",
            ["projection"],
            registry=r,
        )
        self.errors = Counter(
            "payments_errors",
            "Failures the process backed off from, by kind.",
            ["kind"],
            registry=r,
        )
        # Positions are kept as ints too: lag needs them, and reading a Gauge back
        # would go through prometheus_client internals.
        self._lock = threading.Lock()
        self._store: int | None = None
        self._relay: int | None = None
        self._projections: dict[str, int] = {}
        self._alarms: dict[str, str] = {}  # source → why health must be red

    # --- called by the engine and the consumers --------------------------------------

    def record_batch(self, report: BatchReportLike, outcomes: Sequence[OutcomeLike]) -> None:
        for outcome in outcomes:
            kind = type_label(outcome.type)
            self.commands.labels(kind, outcome.status, code_label(outcome.code)).inc()
            if outcome.replayed:
                self.replayed.labels(kind).inc()
        if report.dead_letters:
            self.dead_letters.inc(report.dead_letters)
        self.batch_size.observe(report.commands + report.dead_letters)
        self.batch_seconds.observe(report.seconds)
        if report.commands:
            self.decision_seconds.observe(report.seconds / report.commands)

    def record_relay(self, position: int, count: int) -> None:
        self.relayed.inc(count)
        self.relay_position.set(position)
        with self._lock:
            self._relay = position
            self._raise_store(position)
            self._update_lags()

    def record_projection(self, name: str, position: int) -> None:
        self.projection_position.labels(name).set(position)
        with self._lock:
            # Partitions arrive out of step; the highest position seen is what counts.
            self._projections[name] = max(position, self._projections.get(name, 0))
            self._raise_store(position)
            self._update_lags()

    def record_error(self, kind: str) -> None:
        self.errors.labels(kind).inc()

    def record_poison(self, projection: str, reason: str) -> None:
        self.poison.labels(projection, reason).inc()

    def record_quarantine(self, projection: str, count: int, last_reason: str | None) -> None:
        """The projection's open (unacknowledged) quarantine: red health while count > 0."""
        self.quarantined.labels(projection).set(count)
        if count:
            self.raise_alarm(
                f"{projection}.quarantine", f"{count} record(s) quarantined, last: {last_reason}"
            )
        else:
            self.clear_alarm(f"{projection}.quarantine")

    def raise_alarm(self, source: str, reason: str) -> None:
        """Something an operator must look at: /health stays red until it is cleared."""
        with self._lock:
            self._alarms[source] = reason

    def clear_alarm(self, source: str) -> None:
        with self._lock:
            self._alarms.pop(source, None)

    def alarms(self) -> dict[str, str]:
        with self._lock:
            return dict(self._alarms)

    # --- called by the health monitor -------------------------------------------------

    def record_store_position(self, position: int) -> None:
        with self._lock:
            self._raise_store(position)
            self._update_lags()

    def lags(self) -> dict[str, int]:
        """Lag in events of every position this process knows, by source name."""
        with self._lock:
            return self._lags()

    # --- internals ----------------------------------------------------------------------

    def _raise_store(self, position: int) -> None:
        # A sample of the store can be older than a position just recorded: the store
        # holds at least what was relayed or applied, so lag never goes negative.
        self._store = position if self._store is None else max(self._store, position)
        self.store_position.set(self._store)

    def _lags(self) -> dict[str, int]:
        if self._store is None:
            return {}
        lags = {} if self._relay is None else {"relay": self._store - self._relay}
        for name, position in sorted(self._projections.items()):
            lags[name] = self._store - position
        return lags

    def _update_lags(self) -> None:
        for name, lag in self._lags().items():
            if name == "relay":
                self.relay_lag.set(lag)
            else:
                self.consumer_lag.labels(name).set(lag)


# `*_created` series double the output and nothing here reads them (Prometheus only
# uses them with an opt-in feature); this switch is process-wide in prometheus_client.
disable_created_metrics()

# The process-wide instance, in prometheus_client's default registry so the
# process collectors (CPU, memory, file descriptors) are served beside ours.
DEFAULT = Metrics(REGISTRY)
record_batch = DEFAULT.record_batch
record_relay = DEFAULT.record_relay
record_projection = DEFAULT.record_projection
record_error = DEFAULT.record_error
record_poison = DEFAULT.record_poison
record_quarantine = DEFAULT.record_quarantine
raise_alarm = DEFAULT.raise_alarm
clear_alarm = DEFAULT.clear_alarm
