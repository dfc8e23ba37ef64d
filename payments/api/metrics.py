"""The API's Prometheus metrics, in a registry of its own (served on /metrics).

Labels are the route template and the status, never a raw path: a client choosing
paths must not be able to create time series.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "payments_api_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "payments_api_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.log_failures = Counter(
            "payments_api_request_log_failures",
            "Requests whose row could not be written to api_requests.",
            registry=self.registry,
        )

        # provider: a configured name or "(unknown)"; status: a fixed set (docs/api.md)
        self.webhooks = Counter(
            "payments_webhook_deliveries",
            "Webhook deliveries, by provider and what was done (published, duplicate,"
            " unknown, malformed, refused, unreadable, unavailable).",
            ["provider", "status"],
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.seconds.labels(route).observe(seconds)
