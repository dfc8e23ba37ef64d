"""`payments verify` and `payments replay` (all projections), timed in this process.

They are called as Python functions, not as subprocesses, so the figures are the
work itself and not an interpreter starting and importing the project.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from payments.runtime.settings import Settings


@dataclass(frozen=True)
class ReadSideRun:
    ok: bool
    events: int
    seconds: float
    summary: str

    @property
    def events_per_s(self) -> float | None:
        return self.events / self.seconds if self.seconds > 0 else None


def verify(settings: Settings) -> ReadSideRun:
    from projections.rebuild.source import StoreEventSource
    from projections.rebuild.verify import verify as run_verify

    source = StoreEventSource(settings)
    try:
        started = time.perf_counter()
        report = run_verify(settings.require_database_url(), source)
        seconds = time.perf_counter() - started
    finally:
        source.close()
    shown = "; ".join(
        f"{d.table} {d.key} {d.column}: expected {d.expected!r}, got {d.actual!r}"
        for d in report.differences[:10]
    )
    summary = (
        f"checked {report.events} events, {report.audit_rows} audit rows, "
        f"{len(report.differences)} differences" + (f": {shown}" if shown else "")
    )
    return ReadSideRun(report.ok, report.events, seconds, summary)


def replay(settings: Settings) -> ReadSideRun:
    from projections.kafka_offsets import end_offsets
    from projections.rebuild.replay import replay as run_replay
    from projections.rebuild.source import StoreEventSource
    from projections.schema import PROJECTIONS

    source = StoreEventSource(settings)
    try:
        started = time.perf_counter()
        result = run_replay(
            settings.require_database_url(),
            source,
            settings.topics.events,
            tuple(PROJECTIONS),
            lambda: end_offsets(
                settings.require_kafka_bootstrap(),
                settings.topics.events,
                settings.kafka_python_auth(),
            ),
        )
        seconds = time.perf_counter() - started
    finally:
        source.close()
    summary = f"replayed {result.events} events into {', '.join(result.projections)}"
    return ReadSideRun(True, result.events, seconds, summary)
