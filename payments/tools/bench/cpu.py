"""Where the CPU goes during a phase: each process group's share, from /proc.

The bench's own children (engine, consumers) are measured with their descendants;
PostgreSQL and Kafka are found by their command lines (every `postgres` process and
every JVM running `kafka.Kafka` on the machine: on a machine of its own these are
the run's); the bench process itself is the client that publishes and reads the
outcomes. `other` is what the machine's total busy time (/proc/stat) holds besides:
anything else running shows there, so a busy neighbour is visible in the figures.
PostgreSQL's commits come from pg_stat_database, summed over its databases.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from payments.tools.bench.processes import descendants

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The fields after the command's name (which may hold spaces) in parentheses.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle, over all cores, since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in first[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK


def _command_line(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def pids_matching(matches: Callable[[str], bool]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and matches(_command_line(int(entry.name))):
            found.append(int(entry.name))
    return found


def _is_postgres(command: str) -> bool:
    return command.startswith("postgres") or "/bin/postgres " in command


def _is_kafka(command: str) -> bool:
    return "java" in command and "kafka.Kafka" in command


@dataclass
class CpuSample:
    at: float
    groups: dict[str, float]
    machine: float
    commits: int | None


class CpuMeter:
    """CPU seconds per group at the start and the end of a phase."""

    def __init__(self, children: dict[str, int], admin_url: str) -> None:
        self.children = children
        self.admin_url = admin_url

    def sample(self) -> CpuSample:
        groups = {
            name: sum(cpu_seconds(p) for p in (pid, *descendants(pid)))
            for name, pid in self.children.items()
        }
        groups["bench client"] = cpu_seconds(os.getpid())
        # A process that ended between two samples drops out of its group: PostgreSQL's
        # backends of the phase live as long as their connections, the whole phase.
        groups["postgresql"] = sum(cpu_seconds(p) for p in pids_matching(_is_postgres))
        groups["kafka"] = sum(cpu_seconds(p) for p in pids_matching(_is_kafka))
        return CpuSample(time.monotonic(), groups, machine_busy_seconds(), self._commits())

    def _commits(self) -> int | None:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT sum(xact_commit)::bigint FROM pg_stat_database"
                ).fetchone()
        except psycopg.Error:
            return None
        return int(row[0]) if row and row[0] is not None else None


def phase_figures(start: CpuSample, end: CpuSample, commands: int) -> dict[str, object]:
    """Cores busy per group over the phase, µs of CPU per command, commits per second."""
    seconds = end.at - start.at
    if seconds <= 0:
        return {}
    used = {name: max(0.0, end.groups[name] - start.groups.get(name, 0.0)) for name in end.groups}
    machine = max(0.0, end.machine - start.machine)
    used["other"] = max(0.0, machine - sum(used.values()))
    commits = (
        None
        if start.commits is None or end.commits is None
        else (end.commits - start.commits) / seconds
    )
    return {
        "seconds": seconds,
        "cores": os.cpu_count(),
        "cores_busy": {name: cpu / seconds for name, cpu in used.items()},
        "cpu_us_per_command": {
            name: cpu / commands * 1e6 for name, cpu in used.items() if commands
        },
        "machine_busy_fraction": machine / seconds / (os.cpu_count() or 1),
        "postgresql_commits_per_s": commits,
    }
