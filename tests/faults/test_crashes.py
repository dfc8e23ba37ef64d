"""kill -9 of the engine (several times, mid-batch under load) and of the consumers."""

from __future__ import annotations

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
