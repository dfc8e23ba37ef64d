"""A process that should yield the CPU to another on the same machine.

The projection consumers are allowed to lag (their target is 2 s behind the last
outcome); the engine's intake decides while a client waits. On a machine where both
share the cores, the consumers run at a higher niceness so that the kernel runs the
engine first when both are ready: the intake's latency then does not queue behind a
consumer's batch.
"""

from __future__ import annotations

import os

import structlog

log = structlog.get_logger(__name__)


def yield_cpu(niceness: int) -> int:
    """Run this process (and the threads it starts from now on) at `niceness` or nicer.

    Idempotent: a child started by a process that already yielded is not lowered again.
    Returns the niceness in effect.
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness > current:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
        log.info("cpu_priority.lowered", niceness=niceness, was=current)
    return os.getpriority(os.PRIO_PROCESS, 0)
