"""Projection consumers for tests: loops in threads of the test process, or a real
`payments consume all` process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from consumers.loop import ConsumerConfig, ProjectionConsumer
from payments.runtime.settings import Settings
from payments.tools.services import principals


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


def start_consume_all(
    database_url: str, topic_prefix: str, log_path: Path, metrics_port: int, *options: str
) -> subprocess.Popen[bytes]:
    """`payments consume all OPTIONS` as its own principal, JSON lines to `log_path`."""
    env = dict(os.environ)
    env.update(
        PAYMENTS_DATABASE_URL=database_url,
        PAYMENTS_TOPIC_PREFIX=topic_prefix,
        PAYMENTS_METRICS_PORT=str(metrics_port),
        PAYMENTS_LOG_FORMAT="json",
        PAYMENTS_LOG_LEVEL="info",
    )
    env.update(principals.role_env(Settings(), "projections"))
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "payments.cli", "consume", "all", *options],
            env=env,
            stdout=log,
            stderr=log,
        )
