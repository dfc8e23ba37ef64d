"""Where the local services keep their state and which ports they use.

Everything can be overridden by environment variables so a second checkout (e.g. CI
in a fresh clone) can run beside the first without colliding on ports or state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"

# Partition counts of the contract topics (suffix after the prefix).
TOPIC_PARTITIONS: dict[str, int] = {
    "commands": 8,
    "events": 8,
    "command-results": 3,
    "commands.dlq": 1,
}


def project_root() -> Path:
    """The checkout this package lives in, else the current directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "payments").is_dir():
            return parent
    return Path.cwd()


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a port number, got {raw!r}") from exc


@dataclass(frozen=True)
class ServiceConfig:
    state_dir: Path
    cache_dir: Path
    pg_port: int = 54329
    kafka_port: int = 19092
    controller_port: int = 19093
    topic_prefix: str = "payments"
    pg_bindir: Path | None = None  # None: look it up

    @classmethod
    def from_env(cls) -> ServiceConfig:
        state = os.environ.get("PAYMENTS_SERVICES_DIR") or str(project_root() / ".services")
        cache = os.environ.get("PAYMENTS_CACHE_DIR") or str(
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "payments-engine"
        )
        bindir = os.environ.get("PAYMENTS_PG_BINDIR")
        return cls(
            state_dir=Path(state).resolve(),
            cache_dir=Path(cache).resolve(),
            pg_port=_int_env("PAYMENTS_PG_PORT", 54329),
            kafka_port=_int_env("PAYMENTS_KAFKA_PORT", 19092),
            controller_port=_int_env("PAYMENTS_KAFKA_CONTROLLER_PORT", 19093),
            topic_prefix=os.environ.get("PAYMENTS_TOPIC_PREFIX") or "payments",
            pg_bindir=Path(bindir) if bindir else None,
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
        return {f"{self.topic_prefix}.{suffix}": n for suffix, n in TOPIC_PARTITIONS.items()}
