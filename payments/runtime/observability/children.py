"""/metrics and /health of a supervisor: its children's, fetched and merged per request.

Each child serves its own numbers on a loopback port; the supervisor serves them on the
usual port as if they were one process, so scrapers and health checks keep one URL.

/health asks every child at once (a short timeout each, so a hung child costs at most
that) and merges the documents into `HealthReport.to_json()`'s shape: ok only if every
child answered 200; `postgres`, `kafka` and `keeping_up` hold for all; `lag` and `alarms`
are merged, a child that did not answer adding the alarm `"<child>": "not answering"`;
`store_position` is the highest.

/metrics parses each child's Prometheus text and serves every family once: samples
that several children report with the same labels (the store position, the process
collectors, the engine-side metrics that sit at zero here) are added up for counters
and histograms, and the largest is kept for gauges.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

log = structlog.get_logger("payments.observability")

HOST = "127.0.0.1"
FETCH_TIMEOUT = 1.0
ADDITIVE_TYPES = frozenset({"counter", "histogram", "gaugehistogram", "summary"})


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def fetch(url: str, timeout: float = FETCH_TIMEOUT) -> Answer | None:
    """The status and body, 503s included; None when nothing answered in time."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read())
    except (OSError, ValueError):  # refused, reset, timed out
        return None


def merge_health(answers: Mapping[str, Answer | None]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, document) from each child's /health answer, by child name."""
    documents: list[dict[str, Any]] = []
    alarms: dict[str, str] = {}
    for child, answer in answers.items():
        document = _health_document(answer)
        if document is None:
            alarms[child] = "not answering"
            continue
        documents.append(document)
        alarms.update(document.get("alarms", {}))
    answered = bool(documents)
    everyone_ok = all(a is not None and a.status == 200 for a in answers.values())
    lag: dict[str, int] = {}
    for document in documents:
        lag.update(document.get("lag", {}))
    positions = [d["store_position"] for d in documents if d.get("store_position") is not None]
    merged: dict[str, Any] = {
        "status": "ok" if everyone_ok and not alarms else "degraded",
        "postgres": answered and all(d.get("postgres") is True for d in documents),
        "kafka": answered and all(d.get("kafka") is True for d in documents),
        "keeping_up": answered and all(d.get("keeping_up") is True for d in documents),
        "lag": dict(sorted(lag.items())),
        "store_position": max(positions) if positions else None,
    }
    if alarms:  # only when red for it, as HealthReport.to_json()
        merged["alarms"] = alarms
    return (200 if merged["status"] == "ok" else 503), merged


def _health_document(answer: Answer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    try:
        document = json.loads(answer.body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


class MergedFamilies(Collector):
    """A collector of metric families parsed from several texts, each family once."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = list(texts)

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for text in self.texts:
            for family in text_string_to_metric_families(text):
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                samples = values.setdefault(family.name, {})
                additive = merged.type in ADDITIVE_TYPES
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key not in samples:
                        samples[key] = sample.value
                    elif additive:
                        samples[key] += sample.value
                    else:
                        samples[key] = max(samples[key], sample.value)
        for name, family in families.items():
            for (sample_name, labels), value in values[name].items():
                family.add_sample(sample_name, dict(labels), value)
            yield family


def merge_metrics(texts: Iterable[str]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MergedFamilies(texts))
    return generate_latest(registry)


class ChildrenEndpoints:
    """The server's endpoints for a supervisor: its children's, by name → loopback port."""

    def __init__(self, ports: Mapping[str, int], timeout: float = FETCH_TIMEOUT) -> None:
        self.ports = dict(ports)
        self.timeout = timeout
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        # One thread per child and endpoint: a slow child never delays the others.
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, 2 * len(self.ports)), thread_name_prefix="children-fetch"
        )

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def metrics_text(self) -> bytes:
        answers = self._ask("/metrics")
        texts = [a.body.decode() for a in answers.values() if a is not None and a.status == 200]
        return merge_metrics(texts)

    def health(self) -> tuple[int, dict[str, Any]]:
        return merge_health(self._ask("/health"))

    def _ask(self, path: str) -> dict[str, Answer | None]:
        if self._pool is None:
            raise RuntimeError("ChildrenEndpoints.start() first")
        futures = {
            name: self._pool.submit(fetch, f"http://{HOST}:{port}{path}", self.timeout)
            for name, port in self.ports.items()
        }
        return {name: future.result() for name, future in futures.items()}
