"""The bench's CPU meter: CPU seconds from /proc, and the phase's figures."""

from __future__ import annotations

import os
import time

from payments.tools.bench.cpu import CpuSample, cpu_seconds, machine_busy_seconds, phase_figures


def test_a_busy_process_s_cpu_seconds_grow_with_its_work() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    spent = cpu_seconds(os.getpid()) - before
    assert 0.2 <= spent <= 1.0
    assert machine_busy_seconds() > 0
    assert cpu_seconds(2**22 + 12345) == 0.0  # no such process


def test_phase_figures_share_the_cores_and_charge_the_rest_to_other() -> None:
    start = CpuSample(100.0, {"engine": 10.0, "postgresql": 5.0}, 50.0, 1_000)
    end = CpuSample(110.0, {"engine": 18.0, "postgresql": 9.0}, 64.0, 3_000)
    figures = phase_figures(start, end, commands=4_000)
    assert figures["cores_busy"] == {"engine": 0.8, "postgresql": 0.4, "other": 0.2}
    assert figures["cpu_us_per_command"] == {
        "engine": 2_000.0,
        "postgresql": 1_000.0,
        "other": 500.0,
    }
    assert figures["postgresql_commits_per_s"] == 200.0
    assert phase_figures(start, start, commands=1) == {}
