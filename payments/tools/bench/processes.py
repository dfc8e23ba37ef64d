"""The engine and the consumers as real child processes, and their peak memory.

Peak RSS is the kernel's high-water mark (`VmHWM` in /proc/<pid>/status), read just
before the process is stopped; a process that starts children of its own is measured
with its descendants (summed: they all hold memory at once).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def command_line(name: str, *args: str) -> list[str]:
    """`python -m payments.cli NAME ARGS`."""
    return [sys.executable, "-m", "payments.cli", name, *args]


class ChildProcess:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command_line(*args),
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches only the bench
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def peak_rss_bytes(self) -> int | None:
        pids = [self.pid, *descendants(self.pid)]
        peaks = [p for p in (vm_hwm_bytes(pid) for pid in pids) if p is not None]
        return sum(peaks) if peaks else None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (finish the batch in hand), SIGKILL if it does not exit in time."""
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def status_bytes(pid: int, field: str) -> int | None:
    """A memory field of /proc/<pid>/status (VmHWM, VmRSS, …) in bytes; None if gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # reported in kB
    return None


def vm_hwm_bytes(pid: int) -> int | None:
    return status_bytes(pid, "VmHWM")


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


class Profiler:
    """py-spy sampling a running child (collapsed stacks), e.g. over the throughput phase."""

    def __init__(self, pid: int, output: Path) -> None:
        import shutil

        tool = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        output.parent.mkdir(parents=True, exist_ok=True)
        self.output = output
        self.process = subprocess.Popen(
            [tool, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
             "--subprocesses", "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        # py-spy writes its file when interrupted.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
