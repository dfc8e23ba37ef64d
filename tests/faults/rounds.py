"""One fault round: workload + schedule of faults + every check, recorded in the report."""

from __future__ import annotations

import random
import time

from tests.faults import checker
from tests.faults.cluster import Fleet
from tests.faults.faults import Schedule
from tests.faults.profile import Profile
from tests.faults.report import Report, Round
from tests.faults.workload import BankWorkload

OUTCOME_TIMEOUT = 240.0


def fault_round(
    fleet: Fleet, profile: Profile, report: Report, scenario: str, faults: list[str], seed: int
) -> Round:
    """Run the bank workload while `faults` fire; return the round with its checks."""
    found = report.add(Round(scenario))
    if not fleet.live_engines():
        fleet.start_engine()
    if not fleet.live_consumers():
        fleet.start_consumers()
    workload = BankWorkload(
        fleet.bootstrap,
        fleet.settings.topics,
        clients=profile.clients,
        commands_per_client=profile.commands_per_client,
        seconds=profile.workload_seconds,
        seed=seed,
    )
    crashes_expected = any(f in ("kill_engine", "rebalance") for f in faults)
    before = [e.process.pid for e in fleet.live_engines()]
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        found.seconds[phase] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    try:
        workload.setup()
        lap("setup")
        schedule = Schedule(
            fleet, faults, profile.workload_seconds, random.Random(seed), workload.in_flight
        )
        workload.run(during=schedule.run)
        lap("workload")
        found.injections = dict(schedule.injected)
        found.in_flight = schedule.in_flight_seen
        acked = workload.history.acked_ids()
        workload.tracker.wait_for(acked, OUTCOME_TIMEOUT)
        lap("answers")
        found.commands = len(workload.history.sent)
        found.sends = workload.history.total_sends()
        check(fleet, workload, found)
        if not crashes_expected:
            found.checks["engine_survived"] = survivors(fleet, before)
        lap("checks")
    finally:
        workload.close()
    return found


def check(fleet: Fleet, workload: BankWorkload, found: Round) -> None:
    settings = fleet.settings
    history = workload.history
    envelopes = {cid: sent.envelope for cid, sent in history.sent.items()}
    firsts, found.checks["outcomes"], found.replay_first = checker.first_outcomes(
        workload.tracker.snapshot(), history.acked_ids(), envelopes
    )
    store = checker.StoreView.load(settings)
    found.checks["ledger_zero_sum"] = checker.check_zero_sum(store)
    posted, held = checker.expected_balances(envelopes, firsts)
    accounts = workload.universe.account_ids()
    found.checks["account_postings"] = checker.check_accounts(accounts, store, posted, held)
    found.checks["events_topic"], duplicates = checker.check_events_topic(
        fleet.bootstrap, settings.topics.events, store.keys
    )
    found.checks["read_model"] = checker.check_read_model(settings, store, accounts)
    found.checks["verify"] = checker.run_verify(settings)
    found.checks["engine_answers"] = fleet.probe()
    found.checks["consumers_alive"] = "ok" if fleet.live_consumers() else "consumers died"
    found.relay_duplicates = duplicates


def survivors(fleet: Fleet, before: list[int]) -> str:
    """ "ok" when every engine process that ran before the faults still runs."""
    alive = {e.process.pid for e in fleet.live_engines()}
    gone = [pid for pid in before if pid not in alive]
    return "ok" if not gone else f"engine process(es) {gone} died and were not restarted"


def assert_round(found: Round, fleet: Fleet) -> None:
    failures = found.failures()
    assert not failures, (
        f"{found.scenario}: {failures}\n(injected {found.injections}, "
        f"{found.commands} commands)\n{fleet.tail_logs()}"
    )
