"""The engine's and the consumers' resident memory over a run: a curve, not one peak.

A sampler thread reads the current RSS (`VmRSS` in /proc/<pid>/status, summed over
the process and its descendants, as the peak is) of each child every `interval`
seconds and labels each sample with the phase the run is in. "Flat" is judged from
the measured phases only (throughput and latency; the set-up opens every account and
fills the caches, so memory is expected to grow there): the highest RSS of their
second half against the highest of their first half. A leak, a queue or a cache
without a bound grows with the commands and shows as a ratio above 1.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from payments.tools.bench.processes import descendants, status_bytes

MIB = 1024 * 1024
MEASURED_PHASES = frozenset({"throughput", "latency25", "latency50"})


@dataclass(frozen=True)
class Sample:
    seconds: float  # since the sampler started
    phase: str
    rss_mib: dict[str, float]  # per child name


def tree_rss_bytes(pid: int) -> int | None:
    """RSS of `pid` and its descendants (a supervisor's children hold memory too)."""
    sizes = (status_bytes(p, "VmRSS") for p in (pid, *descendants(pid)))
    found = [r for r in sizes if r is not None]
    return sum(found) if found else None


def growth(samples: list[Sample], name: str) -> float | None:
    """Peak of the measured phases' second half ÷ peak of their first half."""
    measured = [s for s in samples if s.phase in MEASURED_PHASES and name in s.rss_mib]
    if len(measured) < 2:
        return None
    middle = (measured[0].seconds + measured[-1].seconds) / 2
    first = max(s.rss_mib[name] for s in measured if s.seconds <= middle)
    second = max((s.rss_mib[name] for s in measured if s.seconds > middle), default=first)
    return second / first if first else None


@dataclass
class MemoryCurve:
    """Samples the RSS of named processes on a thread until `stop`."""

    pids: dict[str, int]
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    phase: str = "start"

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def start(self) -> MemoryCurve:
        self._thread.start()
        return self

    def mark(self, phase: str) -> None:
        """Label the samples from now on (a str assignment: atomic for the thread)."""
        self.phase = phase

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        self._sample()  # the last point: the state the run ended in

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        rss = {name: tree_rss_bytes(pid) for name, pid in self.pids.items()}
        self.samples.append(
            Sample(
                round(time.monotonic() - self._started, 2),
                self.phase,
                {name: round(b / MIB, 1) for name, b in rss.items() if b is not None},
            )
        )

    def figures(self) -> dict[str, object]:
        """For the JSON report: the curve, and the growth ratio per process."""
        return {
            "interval_s": self.interval,
            "growth": {name: growth(self.samples, name) for name in self.pids},
            "samples": [{"s": s.seconds, "phase": s.phase, **s.rss_mib} for s in self.samples],
        }
