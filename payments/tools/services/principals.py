"""Credentials of the local broker's principals, for the tools that start processes.

`payments demo`, the bench and the test fixtures start an engine and consumers: each
child gets its own principal's credentials (docs/security.md), Kafka and database role,
read from the local services' secrets file. Against services of one's own (no local
secrets, or another bootstrap) nothing is added and the children inherit the
caller's PAYMENTS_KAFKA_* and PAYMENTS_DATABASE_URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from payments.runtime.settings import Settings
from payments.tools.services import acls, broker, postgres, secrets_file
from payments.tools.services.config import ServiceConfig
from payments.tools.services.errors import ServiceError

# Which principal (Kafka and database role) each `payments` subcommand started by a
# tool runs as.
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


def role_env(settings: Settings, principal: str, database_url: str | None = None) -> dict[str, str]:
    """PAYMENTS_KAFKA_* of `principal` for a child process ({} if not local services).

    With `database_url` (the database the child should use: the caller's, a bench's),
    also PAYMENTS_DATABASE_URL: that URL as the principal's database role, when it
    points at the local cluster; another server's URL is left to its operator.
    """
    passwords = _local_passwords(settings)
    if passwords is None:
        return {}
    env = {
        "PAYMENTS_KAFKA_USERNAME": principal,
        "PAYMENTS_KAFKA_PASSWORD": passwords[secrets_file.kafka_key(principal)],
        "PAYMENTS_KAFKA_MECHANISM": broker.MECHANISM,
        "PAYMENTS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    }
    if database_url is not None:
        own = as_role(settings, database_url, principal)
        if own is not None:
            env["PAYMENTS_DATABASE_URL"] = own
        # The API (the client) imports statements as the reconciler role.
        reconciler = as_role(settings, database_url, "reconciler")
        if principal == "client" and reconciler is not None:
            env["PAYMENTS_RECONCILER_DATABASE_URL"] = reconciler
    return env


def as_role(settings: Settings, database_url: str, principal: str) -> str | None:
    """`database_url` (same server, database and options) logged in as `principal`'s
    database role, or None when it is not a URL of the local cluster."""
    config = ServiceConfig.from_settings(settings)
    passwords = secrets_file.load(config.secrets_file)
    parts = urlsplit(database_url)
    if passwords is None or (parts.hostname, parts.port) != ("127.0.0.1", config.pg_port):
        return None
    role = postgres.DATABASE_ROLE_OF[principal]
    netloc = f"{quote(role, safe='')}:{quote(passwords[role], safe='')}@127.0.0.1:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


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
