"""The bench's memory curve: RSS read from /proc, and the flatness ratio."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from payments.tools.bench.memory import MemoryCurve, Sample, growth, tree_rss_bytes


def _samples(values: list[float], phase: str = "throughput") -> list[Sample]:
    return [Sample(float(i), phase, {"engine": v}) for i, v in enumerate(values)]


def test_flat_memory_has_a_ratio_of_one() -> None:
    assert growth(_samples([100, 101, 100, 101, 100, 101]), "engine") == 1.0


def test_memory_growing_through_the_run_shows_its_ratio() -> None:
    assert growth(_samples([100, 110, 120, 150, 180, 200]), "engine") == 200 / 120


def test_the_set_up_phase_does_not_count() -> None:
    setup = _samples([10, 50, 90], phase="setup")
    measured = [Sample(s.seconds + 3, s.phase, s.rss_mib) for s in _samples([100, 100, 100, 100])]
    assert growth(setup + measured, "engine") == 1.0
    assert growth(setup, "engine") is None


def test_a_process_tree_is_measured_with_its_children() -> None:
    own = tree_rss_bytes(os.getpid())
    assert own is not None and own > 10 * 1024 * 1024
    assert tree_rss_bytes(2**22 + 12345) is None  # no such process


def test_the_curve_follows_a_process_that_grows() -> None:
    # A child that holds 64 MiB more after two seconds: the curve must see the step.
    script = "import time; time.sleep(2.0); b = bytearray(64 * 2**20); time.sleep(2.0)"
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        curve = MemoryCurve({"child": child.pid}, interval=0.2).start()
        curve.mark("throughput")
        time.sleep(3.2)
        curve.stop()
    finally:
        child.wait(timeout=10)
    values = [s.rss_mib["child"] for s in curve.samples if "child" in s.rss_mib]
    assert max(values) - min(values) > 50
    figures = curve.figures()
    assert figures["growth"]["child"] > 1.5  # type: ignore[index]
    assert all(s["phase"] == "throughput" for s in figures["samples"][1:])  # type: ignore[index]
