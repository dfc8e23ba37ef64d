"""Starting `payments …` subcommands as child processes, and stopping them politely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=10)
