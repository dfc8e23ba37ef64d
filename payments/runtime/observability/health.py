"""Health: can this process reach its services, and is it keeping up?

A background thread samples every `interval` seconds: PostgreSQL (`SELECT 1` and the
event store's highest notification id, with a short connect and statement timeout)
and Kafka (a metadata request, re-checked at most every `kafka_every` seconds because
it opens a connection). `/health` then answers from the last sample at once, so a
hung service never hangs the health check too.

Keeping up means every lag this process knows (relay, projections) is at most
`max_lag` events, or smaller than it was `window` seconds ago: a big backlog that is
shrinking is a catch-up, not a stall. An alarm (e.g. a projection's quarantined
records, `Metrics.raise_alarm`) keeps the report red, with its reason, until cleared.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from kafka import KafkaConsumer
from psycopg import sql

from payments.contract.tables import EVENTS_TABLE
from payments.runtime.observability.metrics import Metrics

log = structlog.get_logger("payments.health")


def check_postgres(url: str | None, timeout: float, events_table: str) -> tuple[bool, int | None]:
    """(reachable, highest notification id or None when the store is empty or absent)."""
    if not url:
        return False, None
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout)), autocommit=True) as conn:
            conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
            conn.execute("SELECT 1")
            if conn.execute("SELECT to_regclass(%s)", (events_table,)).fetchone() == (None,):
                return True, None  # reachable, schema not installed yet
            row = conn.execute(
                sql.SQL("SELECT max(notification_id) FROM {}").format(sql.Identifier(events_table))
            ).fetchone()
            return True, None if row is None or row[0] is None else int(row[0])
    except psycopg.Error as error:
        log.debug("postgres_unreachable", error=str(error))
        return False, None


def check_kafka(bootstrap: str | None, timeout: float, auth: dict[str, Any]) -> bool:
    if not bootstrap:
        return False
    timeout_ms = int(timeout * 1000)
    try:
        # Construction bootstraps: it fetches cluster metadata within the timeout or
        # raises. (`topics()` afterwards would wait without a timeout.)
        client = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id="payments-health",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=max(timeout_ms, 1000),
            **auth,
        )
    except Exception as error:  # kafka-python raises several unrelated types here
        log.debug("kafka_unreachable", error=repr(error))
        return False
    client.close()
    return True


@dataclass
class LagTrend:
    """Lag samples of one source over a sliding window."""

    window: float
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def observe(self, lag: int, now: float) -> None:
        self.samples.append((now, lag))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.window:
            self.samples.popleft()  # keep one sample at least `window` old as the reference

    def keeping_up(self, max_lag: int) -> bool:
        if not self.samples:
            return True
        latest = self.samples[-1][1]
        oldest = self.samples[0][1]
        return latest <= max_lag or latest < oldest


@dataclass(frozen=True)
class HealthReport:
    postgres: bool
    kafka: bool
    keeping_up: bool
    lag: dict[str, int]
    store_position: int | None
    alarms: dict[str, str] = field(default_factory=dict)  # source → reason (red while any)

    @property
    def ok(self) -> bool:
        return self.postgres and self.kafka and self.keeping_up and not self.alarms

    @property
    def http_status(self) -> int:
        return 200 if self.ok else 503

    def to_json(self) -> dict[str, Any]:
        document = {
            "status": "ok" if self.ok else "degraded",
            "postgres": self.postgres,
            "kafka": self.kafka,
            "keeping_up": self.keeping_up,
            "lag": self.lag,
            "store_position": self.store_position,
        }
        if self.alarms:  # only when red for it: the healthy document keeps its shape
            document["alarms"] = self.alarms
        return document


PostgresProbe = Callable[[], tuple[bool, int | None]]
KafkaProbe = Callable[[], bool]


class HealthMonitor:
    def __init__(
        self,
        metrics: Metrics,
        probe_postgres: PostgresProbe,
        probe_kafka: KafkaProbe,
        *,
        max_lag: int = 1000,
        window: float = 30.0,
        interval: float = 2.0,
        kafka_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.probe_postgres = probe_postgres
        self.probe_kafka = probe_kafka
        self.max_lag = max_lag
        self.window = window
        self.interval = interval
        self.kafka_every = kafka_every
        self.clock = clock
        self.trends: dict[str, LagTrend] = {}
        self._kafka: tuple[float, bool] | None = None
        self._postgres = False
        self._store: int | None = None
        self._sampled = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_services(
        cls,
        metrics: Metrics,
        database_url: str | None,
        kafka_bootstrap: str | None,
        *,
        kafka_auth: dict[str, Any],
        events_table: str = EVENTS_TABLE,
        timeout: float = 2.0,
        **options: Any,
    ) -> HealthMonitor:
        return cls(
            metrics,
            lambda: check_postgres(database_url, timeout, events_table),
            lambda: check_kafka(kafka_bootstrap, timeout, kafka_auth),
            **options,
        )

    def sample(self) -> None:
        """Probe the services once and record the lags (the thread calls this)."""
        postgres, store = self.probe_postgres()
        now = self.clock()
        kafka = self._kafka
        if kafka is None or now - kafka[0] >= self.kafka_every:
            kafka = (now, self.probe_kafka())
        if store is not None:
            self.metrics.record_store_position(store)
        lags = self.metrics.lags()
        with self._lock:
            self._kafka = kafka
            self._postgres = postgres
            self._store = store
            self._sampled = True
            for name, lag in lags.items():
                self.trends.setdefault(name, LagTrend(self.window)).observe(lag, now)

    @property
    def sampled(self) -> bool:
        with self._lock:
            return self._sampled

    def report(self) -> HealthReport:
        with self._lock:
            if not self._sampled:
                return HealthReport(False, False, False, {}, None)
            lags = {name: trend.samples[-1][1] for name, trend in self.trends.items()}
            # Without the store's position the lags are stale: not known to keep up.
            keeping_up = self._postgres and all(
                trend.keeping_up(self.max_lag) for trend in self.trends.values()
            )
            kafka = self._kafka[1] if self._kafka else False
        # Alarms are read live: an acknowledged quarantine turns green at once.
        alarms = self.metrics.alarms()
        return HealthReport(self._postgres, kafka, keeping_up, lags, self._store, alarms)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        # Sample at once (until then /health says degraded), then every interval.
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception:  # a probe bug must not kill the thread that reports it
                log.exception("health_sample_failed")
            self._stop.wait(self.interval)
