"""The fault suite's own PostgreSQL + Kafka instance, its profile, and its processes.

These tests kill and restart the services, so they never touch the shared instance
(ports 54329/19092, state .services): a session fixture starts a second instance in
`.services-faults` on ports 54339/19192/19193 with the same `up()` users run, points
every `PAYMENTS_*` variable of the session at it, and stops it at the end.

The suite runs only when a profile is chosen (`--faults-profile quick|long`, or
`PAYMENTS_FAULTS_PROFILE`): it restarts services and takes minutes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from payments.runtime.settings import Settings
from payments.tools.services.config import ServiceConfig, project_root
from tests.faults.cluster import Fleet
from tests.faults.profile import Profile, profile_named
from tests.faults.report import Report

# Ports of the private instance; PAYMENTS_FAULTS_<NAME> moves one when it is taken.
FAULT_PORTS = {
    name: os.environ.get(name.replace("PAYMENTS_", "PAYMENTS_FAULTS_"), default)
    for name, default in (
        ("PAYMENTS_PG_PORT", "54339"),
        ("PAYMENTS_KAFKA_PORT", "19192"),
        ("PAYMENTS_KAFKA_CONTROLLER_PORT", "19193"),
    )
}
STATE_DIR = project_root() / ".services-faults"


def pytest_addoption(parser: pytest.Parser) -> None:
    # Only seen when this conftest is an initial one (`pytest tests/faults ...`); from
    # the root, tests/conftest.py must declare the option (or use the env variable).
    # suppress: tests/conftest.py may declare it already.
    with contextlib.suppress(ValueError):
        parser.addoption(
            "--faults-profile",
            choices=("quick", "long"),
            default=None,
            help="run the fault-injection suite: quick (each fault once) or long (many times)",
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault injection against a private instance")


def chosen_profile(config: pytest.Config) -> str | None:
    try:
        name = config.getoption("--faults-profile")
    except ValueError:
        name = None
    return name or os.environ.get("PAYMENTS_FAULTS_PROFILE") or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(str(item.fspath)).parents]
    if not chosen_profile(config):
        skip = pytest.mark.skip(reason="fault injection: run with --faults-profile quick|long")
        for item in ours:
            item.add_marker(skip)
        return
    # Last in the session: `service_env` below points the process environment at this
    # suite's own instance until the session ends, so tests after it that start child
    # processes from os.environ would talk to the wrong broker and database.
    mine = set(ours)
    items[:] = [item for item in items if item not in mine] + ours


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    return profile_named(chosen_profile(pytestconfig) or "quick")


@pytest.fixture(scope="session")
def fault_config() -> ServiceConfig:
    shared = ServiceConfig.from_settings()
    return ServiceConfig(
        state_dir=STATE_DIR,
        cache_dir=shared.cache_dir,  # the Kafka jars are downloaded once for both
        pg_port=int(FAULT_PORTS["PAYMENTS_PG_PORT"]),
        kafka_port=int(FAULT_PORTS["PAYMENTS_KAFKA_PORT"]),
        controller_port=int(FAULT_PORTS["PAYMENTS_KAFKA_CONTROLLER_PORT"]),
        topic_prefix="payments",
    )


@pytest.fixture(scope="session")
def service_env(fault_config: ServiceConfig) -> Iterator[dict[str, str]]:
    """Overrides the root fixture: this suite's own instance, never the shared one."""
    from payments.tools.services import control

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAYMENTS_SERVICES_DIR", str(fault_config.state_dir))
        for name, value in FAULT_PORTS.items():
            patch.setenv(name, value)
        variables = control.up(fault_config, principal="admin")  # the harness: operator
        for name, value in variables.items():
            patch.setenv(name, value)
        try:
            yield variables
        finally:
            control.down(fault_config)


@pytest.fixture(scope="session")
def settings(service_env: dict[str, str]) -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def report(profile: Profile) -> Iterator[Report]:
    found = Report(profile.name)
    yield found
    found.write(STATE_DIR / f"report-{profile.name}.json")


@pytest.fixture
def fleet(settings: Settings, fault_config: ServiceConfig, tmp_path: Path) -> Iterator[Fleet]:
    """Engine and consumer processes of one test; whatever is left is stopped after."""
    running = Fleet(settings, fault_config, tmp_path)
    try:
        yield running
    finally:
        running.shutdown()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Each fault scenario runs `repeats` rounds (quick: 1, long: several).
    if "round_no" in metafunc.fixturenames:
        repeats = profile_named(chosen_profile(metafunc.config) or "quick").repeats
        metafunc.parametrize("round_no", range(repeats), ids=lambda n: f"round{n}")
