"""Starting `payments …` subcommands as child processes, and stopping them politely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def spawn_cli(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Run `payments ARGS` with this interpreter, its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "payments.cli", *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches only us
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM (finish the batch in hand), then SIGKILL if it does not exit in time."""
    return stop_processes([process], timeout)[0]


def stop_processes(
    processes: Sequence[subprocess.Popen[bytes]], timeout: float = 30.0
) -> list[int]:
    """`stop_process` for several at once: SIGTERM to all, one shared deadline, then SIGKILL.

    Signalled together, they finish their batches in parallel: stopping N children
    takes as long as the slowest, not the sum.
    """
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return [process.returncode for process in processes]
