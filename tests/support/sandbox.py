"""An engine on a database of its own, with fresh topics: for tests whose events the
shared store must not hold (other tests read it whole, with code that may predate them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from payments.ledger.store import PaymentsApplication, application_env
from payments.runtime.settings import Settings, Topics
from tests.support.databases import own_database
from tests.support.engine import EngineProcess, engine_env
from tests.support.kafka import create_topics, unique_prefix
from tests.support.signing import register


@dataclass
class Sandbox:
    bootstrap: str
    prefix: str
    topics: Topics
    url: str = field(repr=False)  # the app role's URL of the database
    admin_url: str = field(repr=False)
    logs: Path
    engines: list[EngineProcess] = field(default_factory=list)

    def start(self) -> EngineProcess:
        env = engine_env(
            Settings(), self.prefix, f"{self.prefix}-group", PAYMENTS_DATABASE_URL=self.url
        )
        self.engines.append(EngineProcess(env, self.logs / f"engine-{len(self.engines)}.log"))
        return self.engines[-1]

    def register(self, principal: str, roles: frozenset[str] | None = None) -> None:
        """`principal`'s test key in this database (every role unless told)."""
        operator = PaymentsApplication(env=application_env(self.admin_url, pool_size=1))
        try:
            if roles is None:
                register(operator, principal)
            else:
                register(operator, principal, roles)
        finally:
            operator.close()


@contextmanager
def engine_sandbox(
    settings: Settings, superuser_url: str, logs: Path, label: str
) -> Iterator[Sandbox]:
    bootstrap = settings.require_kafka_bootstrap()
    prefix = unique_prefix(label)
    topics = create_topics(bootstrap, prefix)
    with own_database(settings, superuser_url, label) as own:
        sandbox = Sandbox(bootstrap, prefix, topics, own.app_url, own.admin_url, logs)
        try:
            yield sandbox
        finally:
            for engine in sandbox.engines:
                if engine.alive():
                    engine.kill9()
