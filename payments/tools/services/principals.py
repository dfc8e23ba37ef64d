"""Credentials of the local broker's principals, for the tools that start processes.

`payments demo`, the bench and the test fixtures start an engine and consumers: each
child gets its own principal's credentials (docs/security.md), read from the local
services' secrets file. Against services of one's own (no local secrets, or another
bootstrap) nothing is added and the children inherit the caller's PAYMENTS_KAFKA_*.
"""

from __future__ import annotations

from typing import Any

from payments.runtime.settings import Settings
from payments.tools.services import acls, broker, secrets_file
from payments.tools.services.config import ServiceConfig
from payments.tools.services.errors import ServiceError

# Which principal each `payments` subcommand started by a tool runs as.
ROLE_OF_COMMAND = {"engine": "engine", "relay": "engine", "consume": "projections"}


def _local_passwords(settings: Settings) -> dict[str, str] | None:
    config = ServiceConfig.from_settings(settings)
    if settings.kafka_bootstrap not in (None, config.kafka_bootstrap):
        return None  # somebody else's broker
    return secrets_file.load(config.secrets_file)


def local_auth(config: ServiceConfig, principal: str) -> dict[str, Any]:
    """kafka-python SASL arguments of a principal of the local services."""
    passwords = secrets_file.load(config.secrets_file)
    if passwords is None:
        raise ServiceError(
            f"no services state in {config.state_dir}: run `payments services up` first"
        )
    return broker.client_auth(principal, passwords)


def role_env(settings: Settings, principal: str) -> dict[str, str]:
    """PAYMENTS_KAFKA_* of `principal` for a child process ({} if not local services)."""
    passwords = _local_passwords(settings)
    if passwords is None:
        return {}
    return {
        "PAYMENTS_KAFKA_USERNAME": principal,
        "PAYMENTS_KAFKA_PASSWORD": passwords[secrets_file.kafka_key(principal)],
        "PAYMENTS_KAFKA_MECHANISM": broker.MECHANISM,
        "PAYMENTS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    }


def admin_auth(settings: Settings) -> dict[str, Any]:
    """The admin principal's arguments on the local services, else the caller's own."""
    passwords = _local_passwords(settings)
    if passwords is None:
        return settings.kafka_python_auth()
    return broker.admin_auth(passwords)


def grant(settings: Settings, prefix: str, engine_group: str) -> None:
    """The principals' rights on another topic prefix (a test's, the bench's, the demo's)."""
    if _local_passwords(settings) is None:
        return  # not our broker: its operator grants the rights
    acls.ensure_acls(settings.require_kafka_bootstrap(), admin_auth(settings), prefix, engine_group)
