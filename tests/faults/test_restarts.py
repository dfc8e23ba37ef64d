"""Rebalances, a Kafka broker restart, PostgreSQL restarts and outages, then all mixed.

Except where a process is killed on purpose, the engine and consumer processes
started before the faults must still be running afterwards: they recover alone.
"""

from __future__ import annotations

import random

import pytest

from tests.faults.cluster import Fleet
from tests.faults.faults import INJECTORS
from tests.faults.profile import Profile
from tests.faults.report import Report
from tests.faults.rounds import assert_round, fault_round

pytestmark = [pytest.mark.faults, pytest.mark.integration]

SINGLE = {
    "rebalance": ["rebalance", "rebalance", "rebalance"],  # join, leave, join
    "restart_broker": ["restart_broker"],
    "restart_postgres": ["restart_postgres"],
    "postgres_outage": ["postgres_outage"],
}


@pytest.mark.parametrize("scenario", sorted(SINGLE))
def test_single_fault(
    fleet: Fleet, profile: Profile, report: Report, round_no: int, scenario: str
) -> None:
    seed = profile.seed + 200 + 10 * round_no + sorted(SINGLE).index(scenario)
    found = fault_round(fleet, profile, report, scenario, SINGLE[scenario], seed)
    assert_round(found, fleet)


def test_mixed_faults(fleet: Fleet, profile: Profile, report: Report, round_no: int) -> None:
    seed = profile.seed + 300 + round_no
    faults = sorted(INJECTORS)
    random.Random(seed).shuffle(faults)
    found = fault_round(fleet, profile, report, "mixed", faults, seed)
    assert_round(found, fleet)
