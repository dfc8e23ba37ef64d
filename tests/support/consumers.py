"""Projection consumer loops in threads of the test process, as `consume all` runs them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from consumers.loop import ConsumerConfig, ProjectionConsumer


def run_loops_until(
    configs: Sequence[ConsumerConfig],
    done: Callable[[], bool],
    timeout: float,
    explain: Callable[[], Any] = lambda: "consumers did not catch up in time",
) -> list[ProjectionConsumer]:
    """Run one loop per config until `done()`; fail with `explain()` after `timeout`."""
    stop = threading.Event()
    loops = [ProjectionConsumer(config, stop) for config in configs]
    threads = [threading.Thread(target=loop.run) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, explain()
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    return loops
