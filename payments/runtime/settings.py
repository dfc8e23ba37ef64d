"""Settings: one frozen object built once at start and passed down.

This is the only reader of `PAYMENTS_*` variables: every process builds one `Settings`
and hands it (or values from it) down. Names follow the public contract
(`PAYMENTS_DATABASE_URL`, `PAYMENTS_KAFKA_BOOTSTRAP`, `PAYMENTS_TOPIC_PREFIX`, …; the
README's table lists them). URLs carry passwords, so they are `SecretStr`: they never
appear in a repr, a log line or an error message.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The contract's topics: suffix after the prefix, and the partitions the project creates.
TOPIC_PARTITIONS: dict[str, int] = {
    "commands": 8,
    "command-results": 3,
    "events": 8,
    "commands.dlq": 1,
}


class Topics:
    """The contract's topic names under one prefix (the one place they are built)."""

    def __init__(self, prefix: str) -> None:
        self.commands = f"{prefix}.commands"
        self.command_results = f"{prefix}.command-results"
        self.events = f"{prefix}.events"
        self.commands_dlq = f"{prefix}.commands.dlq"
        self.partitions = {f"{prefix}.{suffix}": n for suffix, n in TOPIC_PARTITIONS.items()}

    def all(self) -> list[str]:
        return [self.commands, self.command_results, self.events, self.commands_dlq]


class WebhookProvider(BaseModel):
    """One provider's webhook endpoint (docs/reconciliation.md, "Webhooks in")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme: Literal["standard", "stripe"]
    # Several while a secret rotates: a delivery signed with any of them passes.
    secrets: tuple[SecretStr, ...] = Field(min_length=1)
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", frozen=True, extra="ignore")

    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL of the event store and projections"
    )
    admin_database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL of the role that owns the event store (schema install only)",
    )
    reconciler_database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL of the reconciler role: the API's statement imports only",
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
    superuser_database_url: SecretStr | None = Field(
        default=None, description="the cluster's superuser (bench, tests that tamper)"
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="/metrics and /health; 0 turns them off"
    )
    health_max_lag: int = Field(default=1000, ge=0, description="events behind = unhealthy")
    # The local services of `payments services` (payments/tools/services).
    services_dir: Path | None = Field(default=None, description="default <checkout>/.services")
    cache_dir: Path | None = Field(default=None, description="default ~/.cache/payments-engine")
    pg_bindir: Path | None = Field(default=None, description="folder of initdb/pg_ctl/postgres")
    pg_port: int = Field(default=54329, ge=1, le=65535)
    kafka_port: int = Field(default=19092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=19093, ge=1, le=65535)
    # Kafka authentication (docs/security.md). No username: PLAINTEXT, so a broker of
    # one's own without SASL still works; a username: SASL/SCRAM-SHA-512.
    kafka_username: str | None = Field(default=None, description="SASL/SCRAM principal")
    kafka_password: SecretStr | None = Field(default=None, description="its password")
    kafka_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] | None = (
        Field(default=None, description="default SASL_PLAINTEXT with a username, else PLAINTEXT")
    )

    # The HTTP API (`payments api`, docs/api.md): loopback by default, like /metrics.
    api_host: str = Field(default="127.0.0.1", description="address `payments api` binds")
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_rate_limit: str = Field(
        default="600/minute",
        pattern=r"^[0-9]+ ?(/|per ) ?[0-9]* ?(second|minute|hour|day)s?$",
        description="requests per API key, in the `limits` library's notation",
    )
    # POST /commands signs as a gateway principal (docs/security.md, "Signing on behalf
    # of a principal"): a key of its own, never the client's, so the API speaks for
    # its callers and for no one else.
    api_signing_key_file: Path | None = Field(
        default=None, description="PEM of the API's gateway key (Ed25519, PKCS#8)"
    )
    api_signing_principal: str | None = Field(
        default=None, description="the gateway principal that key belongs to"
    )
    api_command_timeout: float = Field(
        default=5.0, gt=0, le=60, description="seconds POST /commands waits for an outcome"
    )

    # Webhooks in (POST /webhooks/{provider}): JSON, e.g.
    # {"demo": {"scheme": "standard", "secrets": ["whsec_…"]}}. The provider's commands
    # are signed by the gateway on behalf of the principal `provider-<name>`.
    webhook_providers: dict[str, WebhookProvider] = Field(
        default_factory=dict, description="provider name -> scheme and secrets"
    )

    # Signed commands (docs/security.md): the key `payments send`, the demo and the
    # bench sign with. `payments services env` points at the local services' key.
    signing_key_file: Path | None = Field(
        default=None, description="PEM file of an Ed25519 private key (PKCS#8)"
    )
    signing_principal: str | None = Field(
        default=None, description="the principal that key was registered for"
    )

    # Personal data (docs/security.md, "Personal data"): the key-encryption key that
    # wraps every holder's data key. The engine seals with it, the API opens with it.
    holder_key_file: Path | None = Field(
        default=None, description="file of the holder KEK: base64 of 32 random bytes"
    )

    def holder_kek(self) -> bytes | None:
        """The holder KEK, or None when no file is configured (unreadable: raises)."""
        from payments.domain.personal_data import load_kek

        return None if self.holder_key_file is None else load_kek(self.holder_key_file)

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

    def require_superuser_database_url(self) -> str:
        if self.superuser_database_url is None:
            raise MissingSetting("PAYMENTS_SUPERUSER_DATABASE_URL")
        return self.superuser_database_url.get_secret_value()

    def require_kafka_bootstrap(self) -> str:
        if not self.kafka_bootstrap:
            raise MissingSetting("PAYMENTS_KAFKA_BOOTSTRAP")
        return self.kafka_bootstrap

    @property
    def kafka_protocol(self) -> str:
        if self.kafka_security_protocol:
            return self.kafka_security_protocol
        return "SASL_PLAINTEXT" if self.kafka_username else "PLAINTEXT"

    def kafka_python_auth(self) -> dict[str, Any]:
        """Keyword arguments of every kafka-python client (consumer, producer, admin)."""
        auth: dict[str, Any] = {"security_protocol": self.kafka_protocol}
        if self.kafka_protocol.startswith("SASL"):
            auth |= {
                "sasl_mechanism": self.kafka_mechanism,
                "sasl_plain_username": self._require_kafka_username(),
                "sasl_plain_password": self._kafka_password(),
            }
        return auth

    def confluent_auth(self) -> dict[str, str]:
        """The same for a confluent-kafka (librdkafka) client's config dict."""
        auth = {"security.protocol": self.kafka_protocol.lower()}
        if self.kafka_protocol.startswith("SASL"):
            auth |= {
                "sasl.mechanisms": self.kafka_mechanism,
                "sasl.username": self._require_kafka_username(),
                "sasl.password": self._kafka_password(),
            }
        return auth

    def _require_kafka_username(self) -> str:
        if not self.kafka_username:
            raise MissingSetting("PAYMENTS_KAFKA_USERNAME")
        return self.kafka_username

    def _kafka_password(self) -> str:
        if self.kafka_password is None:
            raise MissingSetting("PAYMENTS_KAFKA_PASSWORD")
        return self.kafka_password.get_secret_value()


class MissingSetting(RuntimeError):
    def __init__(self, variable: str) -> None:
        super().__init__(
            f'{variable} is not set: run `eval "$(payments services env)"` after '
            "`payments services up`, or export it yourself"
        )
        self.variable = variable
