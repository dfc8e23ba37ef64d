"""Session fixtures: where PostgreSQL and Kafka are, for every test that needs them.

1. PAYMENTS_DATABASE_URL and PAYMENTS_KAFKA_BOOTSTRAP already set: use those services.
2. Otherwise the local services, started in-process by the same functions as
   `payments services up` (reused when already running).
The chosen variables are exported into os.environ for the session, so engine and
consumer subprocesses started by tests find the same services.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from payments.runtime.settings import Settings

SERVICE_VARS = ("PAYMENTS_DATABASE_URL", "PAYMENTS_KAFKA_BOOTSTRAP")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")
    parser.addoption(
        "--faults-profile",
        choices=("quick", "long"),
        default=None,
        help="run the fault-injection suite (tests/faults): quick or long",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _local() -> Iterator[dict[str, str]]:
    from payments.tools.services import ServiceConfig, up

    # Left running afterwards on purpose: the next run reuses it in a fraction of a second.
    # The harness plays the operator (it creates topics under test prefixes and their
    # ACLs): the admin principal. Engines and consumers it starts get their own
    # principal (tests/support/engine.py, payments.tools.services.principals).
    yield up(ServiceConfig.from_settings(), principal="admin")


@pytest.fixture(scope="session")
def service_env() -> Iterator[dict[str, str]]:
    """The PAYMENTS_* variables of the services under test (also put into os.environ)."""
    if all(os.environ.get(name) for name in SERVICE_VARS):
        source: Iterator[dict[str, str]] = iter(
            [{k: v for k, v in os.environ.items() if k.startswith("PAYMENTS_")}]
        )
    else:
        source = _local()
    variables = next(source)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        yield variables
    next(source, None)  # let the generator leave its `with` blocks


@pytest.fixture(scope="session")
def settings(service_env: dict[str, str]) -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> str:
    return settings.require_kafka_bootstrap()


@pytest.fixture(scope="session")
def database_url(settings: Settings) -> str:
    return settings.require_database_url()


@pytest.fixture(scope="session")
def admin_database_url(settings: Settings) -> str:
    return settings.require_admin_database_url()


@pytest.fixture(scope="session")
def superuser_database_url(service_env: dict[str, str]) -> str:
    value = service_env.get("PAYMENTS_SUPERUSER_DATABASE_URL")
    if not value:
        pytest.skip("PAYMENTS_SUPERUSER_DATABASE_URL is not set")
    return value
