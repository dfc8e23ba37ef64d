"""A tiny HTTP server on 127.0.0.1: `/metrics` (Prometheus text) and `/health` (JSON).

The port is `PAYMENTS_METRICS_PORT` (default 9464 for the engine, 9465 for the
consumers, 9466 for the engine's relay process; 0 disables). It only binds to
loopback: the numbers say how busy the
ledger is, which is not for the whole network; a scraper on another host goes
through a proxy or an agent on this one.

A port already taken (a second engine on the same host) is logged and skipped: the
engine's work matters more than its metrics, so it never fails to start for them.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from payments.runtime.observability.health import HealthMonitor
from payments.runtime.observability.metrics import DEFAULT, Metrics
from payments.runtime.settings import Settings

log = structlog.get_logger("payments.observability")

ENGINE_PORT = 9464
CONSUMERS_PORT = 9465
RELAY_PORT = 9466
HOST = "127.0.0.1"


def metrics_port(settings: Settings, default: int) -> int:
    """`PAYMENTS_METRICS_PORT` when set, else this process's default."""
    return default if settings.metrics_port is None else settings.metrics_port


class Endpoints(Protocol):
    """What the server answers: this process's own numbers, or its children's merged."""

    def metrics_text(self) -> bytes: ...

    def health(self) -> tuple[int, dict[str, Any]]: ...  # (HTTP status, JSON document)

    def start(self) -> None: ...

    def stop(self) -> None: ...


class OwnEndpoints:
    """This process's registry and health monitor."""

    def __init__(self, metrics: Metrics, monitor: HealthMonitor) -> None:
        self.metrics = metrics
        self.monitor = monitor

    def metrics_text(self) -> bytes:
        return generate_latest(self.metrics.registry)

    def health(self) -> tuple[int, dict[str, Any]]:
        report = self.monitor.report()
        return report.http_status, report.to_json()

    def start(self) -> None:
        self.monitor.start()

    def stop(self) -> None:
        self.monitor.stop()


class ObservabilityServer:
    def __init__(self, endpoints: Endpoints, port: int) -> None:
        self.endpoints = endpoints
        self._http = ThreadingHTTPServer((HOST, port), _handler(endpoints))
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    def start(self) -> ObservabilityServer:
        self.endpoints.start()
        self._thread.start()
        log.info("metrics_serving", url=f"http://{HOST}:{self.port}/metrics")
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self.endpoints.stop()


def _handler(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, endpoints.metrics_text())
            elif path == "/health":
                status, document = endpoints.health()
                self._send(status, "application/json", json.dumps(document).encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"try /metrics or /health\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every few seconds is not worth a log line

    return Handler


def start_observability(
    settings: Settings, default_port: int, metrics: Metrics = DEFAULT
) -> ObservabilityServer | None:
    """Serve /metrics and /health in daemon threads; None when disabled or port taken."""
    port = metrics_port(settings, default_port)
    if port == 0:
        return None
    monitor = HealthMonitor.for_services(
        metrics,
        settings.database_url.get_secret_value() if settings.database_url else None,
        settings.kafka_bootstrap,
        kafka_auth=settings.kafka_python_auth(),
        max_lag=settings.health_max_lag,
    )
    return serve_endpoints(port, OwnEndpoints(metrics, monitor))


def serve_endpoints(port: int, endpoints: Endpoints) -> ObservabilityServer | None:
    """Serve `endpoints` (this process's, or a supervisor's children merged) in daemon
    threads; None when the port is 0 or taken."""
    if port == 0:
        return None
    try:
        server = ObservabilityServer(endpoints, port)
    except OSError as error:
        log.warning("metrics_port_unavailable", port=port, error=str(error))
        return None
    return server.start()
