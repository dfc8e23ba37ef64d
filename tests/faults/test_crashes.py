"""kill -9 of the engine (several times, mid-batch under load) and of the consumers;
and a polite stop (SIGTERM) that must always work."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.faults.cluster import Fleet
from tests.faults.profile import Profile
from tests.faults.report import Report
from tests.faults.rounds import assert_round, fault_round

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_engine_kill_9_under_load(
    fleet: Fleet, profile: Profile, report: Report, round_no: int
) -> None:
    # The workload keeps the engine busy, so most kills land between a batch's
    # commit and its answers or offsets: the redelivered batch must be replayed.
    faults = ["kill_engine"] * profile.engine_kills
    found = fault_round(fleet, profile, report, "kill -9 engine", faults, profile.seed + round_no)
    assert_round(found, fleet)


def test_consumers_kill_9_under_load(
    fleet: Fleet, profile: Profile, report: Report, round_no: int
) -> None:
    faults = ["kill_consumers"] * (1 if profile.repeats == 1 else 2)
    found = fault_round(
        fleet, profile, report, "kill -9 consumers", faults, profile.seed + 100 + round_no
    )
    assert_round(found, fleet)


STOP_MID_LOG_LINE = """
import os, signal, sys, threading
from structlog._output import _get_lock_for_file
from payments.runtime.stop_signals import install_stop_signals
from payments.runtime.logging import configure_logging
from payments.runtime.settings import Settings

configure_logging(Settings(log_level="info", log_format="json"))
stop = threading.Event()
install_stop_signals(stop)
with _get_lock_for_file(sys.stderr):  # the main thread is writing a log line...
    os.kill(os.getpid(), signal.SIGTERM)  # ...when the supervisor asks it to stop
print("stopping" if stop.is_set() else "ignored", flush=True)
"""


def test_sigterm_during_a_log_line_stops_the_engine() -> None:
    # Deterministic: the write lock is held exactly as PrintLogger.msg holds it.
    child = subprocess.Popen(
        [sys.executable, "-c", STOP_MID_LOG_LINE], stdout=subprocess.PIPE, text=True
    )
    try:
        out, _ = child.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()  # SIGKILL: a SIGTERM would deadlock the same way
        child.communicate()
        pytest.fail("the engine's stop handler deadlocked on the log write lock")
    assert out.strip() == "stopping"
