"""Settings: one frozen object built once at start and passed down.

Names follow the public contract (`PAYMENTS_DATABASE_URL`, `PAYMENTS_KAFKA_BOOTSTRAP`,
`PAYMENTS_TOPIC_PREFIX`). The database URL carries a password, so it is a
`SecretStr`: it never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Topics:
    """The contract's topic names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.commands = f"{prefix}.commands"
        self.command_results = f"{prefix}.command-results"
        self.events = f"{prefix}.events"
        self.commands_dlq = f"{prefix}.commands.dlq"

    def all(self) -> list[str]:
        return [self.commands, self.command_results, self.events, self.commands_dlq]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", frozen=True, extra="ignore")

    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL of the event store and projections"
    )
    admin_database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL of the role that owns the event store (schema install only)",
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers, host:port[,host:port]"
    )
    topic_prefix: str = Field(default="payments", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    engine_group: str = Field(default="payments-engine", description="consumer group of engines")
    engine_batch_max: int = Field(default=500, ge=1, le=10_000)
    engine_batch_wait_ms: int = Field(default=20, ge=0, le=10_000)

    @cached_property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise MissingSetting("PAYMENTS_DATABASE_URL")
        return self.database_url.get_secret_value()

    def require_admin_database_url(self) -> str:
        if self.admin_database_url is None:
            raise MissingSetting("PAYMENTS_ADMIN_DATABASE_URL")
        return self.admin_database_url.get_secret_value()

    def require_kafka_bootstrap(self) -> str:
        if not self.kafka_bootstrap:
            raise MissingSetting("PAYMENTS_KAFKA_BOOTSTRAP")
        return self.kafka_bootstrap


class MissingSetting(RuntimeError):
    def __init__(self, variable: str) -> None:
        super().__init__(
            f'{variable} is not set: run `eval "$(payments services env)"` after '
            "`payments services up`, or export it yourself"
        )
        self.variable = variable
