"""/health and /metrics over HTTP, probing the real PostgreSQL and Kafka."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from payments.runtime.observability.health import HealthMonitor, check_kafka, check_postgres
from payments.runtime.observability.metrics import Metrics
from payments.runtime.observability.server import (
    ObservabilityServer,
    OwnEndpoints,
    start_observability,
)
from payments.runtime.settings import Settings

pytestmark = pytest.mark.integration

UNREACHABLE_DATABASE = "postgresql://nobody:nothing@127.0.0.1:1/none"
UNREACHABLE_KAFKA = "127.0.0.1:1"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_sampled(monitor: HealthMonitor) -> None:
    """The first sample runs in the monitor's thread; until then /health says degraded."""
    deadline = time.monotonic() + 15
    while not monitor.sampled:
        assert time.monotonic() < deadline, "the monitor never sampled"
        time.sleep(0.05)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ObservabilityServer] = []

    def start(monitor: HealthMonitor) -> ObservabilityServer:
        server = ObservabilityServer(OwnEndpoints(monitor.metrics, monitor), port=0).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def events_table(database_url: str) -> Iterator[str]:
    """A stand-in for the event store's table, so the test controls its positions."""
    name = f"health_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (notification_id bigint)")
        conn.execute(f"INSERT INTO {name} VALUES (41), (42)")
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {name}")


def test_healthy_services_answer_200_with_the_lag(
    settings: Settings, database_url: str, events_table: str, serve: Any
) -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.record_relay(40, 40)
    metrics.record_projection("balances", 42)
    monitor = HealthMonitor.for_services(
        metrics,
        database_url,
        settings.require_kafka_bootstrap(),
        kafka_auth=settings.kafka_python_auth(),
        events_table=events_table,
    )
    server = serve(monitor)
    wait_sampled(monitor)

    status, body = get(f"http://127.0.0.1:{server.port}/health")
    document = json.loads(body)

    assert status == 200
    assert document == {
        "status": "ok",
        "postgres": True,
        "kafka": True,
        "keeping_up": True,
        "lag": {"relay": 2, "balances": 0},
        "store_position": 42,
    }
    status, text = get(f"http://127.0.0.1:{server.port}/metrics")
    assert status == 200
    assert "payments_relay_lag_events 2.0" in text
    assert 'payments_consumer_lag_events{projection="balances"} 0.0' in text
    assert get(f"http://127.0.0.1:{server.port}/nothing")[0] == 404


def test_unreachable_services_answer_503_degraded(serve: Any) -> None:
    monitor = HealthMonitor.for_services(
        Metrics(CollectorRegistry()),
        UNREACHABLE_DATABASE,
        UNREACHABLE_KAFKA,
        kafka_auth={},
        timeout=0.5,
    )
    server = serve(monitor)
    wait_sampled(monitor)

    status, body = get(f"http://127.0.0.1:{server.port}/health")

    assert status == 503
    assert json.loads(body) == {
        "status": "degraded",
        "postgres": False,
        "kafka": False,
        "keeping_up": False,
        "lag": {},
        "store_position": None,
    }


def test_probes_tell_reachable_from_unreachable(
    settings: Settings, database_url: str, events_table: str
) -> None:
    assert check_postgres(database_url, 2.0, events_table) == (True, 42)
    assert check_postgres(database_url, 2.0, "no_such_table_here") == (True, None)
    assert check_postgres(UNREACHABLE_DATABASE, 2.0, events_table) == (False, None)
    assert check_kafka(settings.require_kafka_bootstrap(), 2.0, settings.kafka_python_auth())
    started = time.monotonic()
    assert not check_kafka(UNREACHABLE_KAFKA, 1.0, {})
    assert time.monotonic() - started < 5, "the Kafka probe must give up quickly"


def test_a_taken_port_does_not_stop_the_process(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        on_taken_port = settings.model_copy(update={"metrics_port": taken.getsockname()[1]})
        assert start_observability(on_taken_port, 9464, Metrics(CollectorRegistry())) is None


def test_port_zero_disables_the_server(settings: Settings) -> None:
    disabled = settings.model_copy(update={"metrics_port": 0})
    assert start_observability(disabled, 9464, Metrics(CollectorRegistry())) is None
