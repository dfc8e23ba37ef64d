"""Where the local services keep their state and which ports they use.

Everything can be overridden by settings (`PAYMENTS_SERVICES_DIR`, `PAYMENTS_PG_PORT`,
…, read by `payments.runtime.settings`) so a second checkout (e.g. CI in a fresh clone)
can run beside the first without colliding on ports or state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from payments.runtime.settings import Settings, Topics

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"


def project_root() -> Path:
    """The checkout this package lives in, else the current directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "payments").is_dir():
            return parent
    return Path.cwd()


@dataclass(frozen=True)
class ServiceConfig:
    state_dir: Path
    cache_dir: Path
    pg_port: int = 54329
    kafka_port: int = 19092
    controller_port: int = 19093
    topic_prefix: str = "payments"
    engine_group: str = "payments-engine"
    pg_bindir: Path | None = None  # None: look it up

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ServiceConfig:
        settings = settings or Settings()
        cache = settings.cache_dir or (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "payments-engine"
        )
        return cls(
            state_dir=Path(settings.services_dir or project_root() / ".services").resolve(),
            cache_dir=Path(cache).resolve(),
            pg_port=settings.pg_port,
            kafka_port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            topic_prefix=settings.topic_prefix,
            engine_group=settings.engine_group,
            pg_bindir=settings.pg_bindir,
        )

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def marker(self) -> Path:
        """Proves a folder is ours before `down --purge` deletes it."""
        return self.state_dir / ".payments-services"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.json"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def kafka_lib(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}" / "lib"

    def topics(self) -> dict[str, int]:
        return Topics(self.topic_prefix).partitions
