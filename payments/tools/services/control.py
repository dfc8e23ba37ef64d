"""`up`, `down`, `status`, `env`: the composition of the PostgreSQL and Kafka parts.

Every check that can fail (binaries, ports, half-made state) runs before anything is
started, so a failed `up` leaves nothing half-running.
"""

from __future__ import annotations

import fcntl
import shutil
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from payments.contract.tables import INTAKE_POSITIONS_TABLE, RELAY_POSITION_TABLE
from payments.tools.schema import install_schema
from payments.tools.services import (
    acls,
    broker,
    holder_kek,
    kafka_jars,
    postgres,
    secrets_file,
    signing_keys,
    webhook_provider,
)
from payments.tools.services.config import ServiceConfig
from payments.tools.services.errors import ServiceError
from payments.tools.services.procs import check_port_free, require_executable
from payments.tools.services.topics import ensure_topics

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def up(
    config: ServiceConfig | None = None, say: Say = _quiet, principal: str = "client"
) -> dict[str, str]:
    """Start whatever is not running yet, wait until ready; return the env variables
    (with the Kafka credentials of `principal`)."""
    config = config or ServiceConfig.from_settings()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.marker.touch()
    # Two `up`s at once (two test sessions) must not both run initdb or start a broker.
    with (config.state_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _up(config, say, principal)


def _up(config: ServiceConfig, say: Say, principal: str) -> dict[str, str]:
    started = time.monotonic()
    passwords = secrets_file.load(config.secrets_file)
    pg_exists = postgres.check_state(config, have_secrets=passwords is not None)
    broker.check_state(config)
    if passwords is None:
        passwords = secrets_file.create(config.secrets_file)
    if broker.is_plaintext_era(config):
        say("Kafka state predates SASL/SCRAM: stopping it and formatting its log anew")
        broker.reset_plaintext_era(config)
    # A new Kafka log beside an existing database: every stored Kafka offset is now
    # meaningless (forgotten below, once PostgreSQL is up).
    kafka_log_is_new = not (broker.paths(config)["data"] / "meta.properties").is_file()

    pg_pid = postgres.running_pid(config)
    kafka_pid = broker.running_pid(config)
    lib = None
    if pg_pid is None:
        postgres.find_bindir(config)
        check_port_free(config.pg_port, "PostgreSQL", "PAYMENTS_PG_PORT")
    if kafka_pid is None:
        require_executable(
            "java", "install a Java 17+ runtime (apt-get install openjdk-17-jdk-headless)"
        )
        check_port_free(config.kafka_port, "Kafka", "PAYMENTS_KAFKA_PORT")
        check_port_free(
            config.controller_port, "the Kafka controller", "PAYMENTS_KAFKA_CONTROLLER_PORT"
        )
        lib = kafka_jars.ensure_lib(config)

    # The JVM is the slowest to come up: start it first, set PostgreSQL up meanwhile.
    if kafka_pid is None and lib is not None:
        say(f"starting Kafka {config.kafka_bootstrap} (log: {broker.paths(config)['log']})")
        kafka_pid = broker.start(config, lib, passwords)
        new_kafka = True
    else:
        say(f"Kafka already running (pid {kafka_pid}) on {config.kafka_bootstrap}")
        new_kafka = False
    try:
        if pg_pid is None:
            if not pg_exists:
                say(f"creating PostgreSQL cluster in {postgres.data_dir(config)}")
                postgres.init_cluster(config, passwords["postgres"])
            say(
                f"starting PostgreSQL 127.0.0.1:{config.pg_port} (log: {postgres.log_file(config)})"
            )
            postgres.start(config)
        else:
            say(f"PostgreSQL already running (pid {pg_pid}) on 127.0.0.1:{config.pg_port}")
        postgres.bootstrap(config.pg_port, passwords)
        broker.wait_ready(config, kafka_pid, broker.admin_auth(passwords))
    except BaseException:
        if new_kafka:
            broker.stop(config)  # leave nothing half-running behind
        raise
    admin = broker.admin_auth(passwords)
    counts = ensure_topics(config.kafka_bootstrap, config.topics(), admin)
    say("topics: " + ", ".join(f"{t} ({n})" for t, n in sorted(counts.items())))
    acls.ensure_users(config.kafka_bootstrap, admin, passwords)
    acls.ensure_acls(config.kafka_bootstrap, admin, config.topic_prefix, config.engine_group)
    say("principals and ACLs: " + ", ".join(secrets_file.KAFKA_PRINCIPALS))
    operator = env_vars(config, "admin")
    _install_schema(operator, say)
    # As the operator: the engine's role may not write keys (payments.ledger.schema).
    key_id = signing_keys.register_local_signer(config, operator["PAYMENTS_DATABASE_URL"])
    say(f"signing key of {signing_keys.LOCAL_PRINCIPAL}: {key_id}")
    key_id = signing_keys.register_gateway_signer(config, operator["PAYMENTS_DATABASE_URL"])
    say(f"signing key of {signing_keys.GATEWAY_PRINCIPAL} (the HTTP API's gateway): {key_id}")
    webhook_provider.ensure_secret(config)
    webhook_provider.ensure_provider_principal(
        operator["PAYMENTS_DATABASE_URL"], webhook_provider.DEMO_PROVIDER, "payments services up"
    )
    if kafka_log_is_new and pg_exists:
        _forget_kafka_offsets(operator["PAYMENTS_SUPERUSER_DATABASE_URL"], say)
    say(f"services up in {time.monotonic() - started:.1f} s")
    return env_vars(config, principal)


def _forget_kafka_offsets(superuser_url: str, say: Say) -> None:
    """After the Kafka log was formatted anew: the topics are empty, so the offsets the
    database remembers (engine intake, relay, projections) point past their ends. With
    them forgotten, the relay publishes the store again from position 1 and the
    projections re-read it; their apply skips what they already hold (versions,
    positions), so nothing is lost or doubled."""
    tables = (INTAKE_POSITIONS_TABLE, RELAY_POSITION_TABLE, "projection_positions")
    with psycopg.connect(superuser_url, autocommit=True) as conn, conn.transaction():
        for table in tables:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
    say("Kafka log is new: forgot the stored offsets of " + ", ".join(tables))


def _install_schema(variables: dict[str, str], say: Say) -> None:
    install_schema(
        admin_url=variables["PAYMENTS_ADMIN_DATABASE_URL"],
        app_url=variables["PAYMENTS_DATABASE_URL"],
    )
    say("schema installed")


def down(config: ServiceConfig | None = None, purge: bool = False, say: Say = _quiet) -> None:
    config = config or ServiceConfig.from_settings()
    if postgres.stop(config):
        say("PostgreSQL stopped")
    if broker.stop(config):
        say("Kafka stopped")
    if purge and config.state_dir.exists():
        if not config.marker.is_file():
            raise ServiceError(
                f"{config.state_dir} has no {config.marker.name} marker, so it is not ours to "
                "delete: remove it yourself"
            )
        postgres.purge(config, say)
        shutil.rmtree(config.state_dir)
        say(f"removed {config.state_dir}")


def status(config: ServiceConfig | None = None) -> list[dict[str, Any]]:
    config = config or ServiceConfig.from_settings()
    pg_pid = postgres.running_pid(config)
    kafka_pid = broker.running_pid(config)
    return [
        {
            "service": "postgresql",
            "running": pg_pid is not None,
            "pid": pg_pid,
            "address": f"127.0.0.1:{config.pg_port}",
            "data": str(postgres.data_dir(config)),
            "log": str(postgres.log_file(config)),
        },
        {
            "service": "kafka",
            "running": kafka_pid is not None,
            "pid": kafka_pid,
            "address": config.kafka_bootstrap,
            "data": str(broker.paths(config)["data"]),
            "log": str(broker.paths(config)["log"]),
        },
    ]


# Who runs as whom: `payments services env --principal …` and the tools that start
# processes (principals.role_env). The Kafka principal of the same name, if any.
PRINCIPALS = ("client", "engine", "projections", "audit", "admin")


def env_vars(config: ServiceConfig | None = None, principal: str = "client") -> dict[str, str]:
    """The PAYMENTS_* variables that point a process at these services as `principal`.

    Each principal gets its own database role (docs/security.md): `client` the query
    role, `engine` the engine's, `projections` the projector's, `audit` the read-only
    auditor's (no Kafka credentials), `admin` the operator's, with the schema owner's
    and the superuser's URLs, which no other principal sees.
    """
    config = config or ServiceConfig.from_settings()
    if principal not in PRINCIPALS:
        raise ServiceError(f"unknown principal {principal!r}: one of {', '.join(PRINCIPALS)}")
    passwords = secrets_file.load(config.secrets_file)
    if passwords is None:
        raise ServiceError(
            f"no services state in {config.state_dir}: run `payments services up` first"
        )
    variables = database_vars(config.pg_port, passwords, principal) | {
        "PAYMENTS_KAFKA_BOOTSTRAP": config.kafka_bootstrap,
        "PAYMENTS_TOPIC_PREFIX": config.topic_prefix,
    }
    if principal in secrets_file.KAFKA_PRINCIPALS:
        variables |= kafka_vars(principal, passwords)
    if principal in ("engine", "client", "admin"):  # who seal or open personal data
        variables |= holder_kek.kek_vars(config)
    if principal in ("client", "admin"):  # those who send commands
        variables |= signing_keys.signing_vars(config)
    if principal == "client":  # `payments api` runs as the client
        variables |= reconciler_vars(config.pg_port, passwords)
        variables |= signing_keys.gateway_vars(config)
        variables |= webhook_provider.webhook_vars(config)
    return variables


def kafka_vars(principal: str, passwords: dict[str, str]) -> dict[str, str]:
    if principal not in secrets_file.KAFKA_PRINCIPALS:
        raise ServiceError(
            f"unknown Kafka principal {principal!r}: "
            f"one of {', '.join(secrets_file.KAFKA_PRINCIPALS)}"
        )
    return {
        "PAYMENTS_KAFKA_USERNAME": principal,
        "PAYMENTS_KAFKA_PASSWORD": passwords[secrets_file.kafka_key(principal)],
        "PAYMENTS_KAFKA_MECHANISM": broker.MECHANISM,
    }


def reconciler_vars(
    port: int, passwords: dict[str, str], host: str = "127.0.0.1"
) -> dict[str, str]:
    """The API's second database URL: the reconciler role, for statement imports only."""
    role = postgres.DATABASE_ROLE_OF["reconciler"]
    url = postgres.url(port, role, passwords[role], host=host)
    return {"PAYMENTS_RECONCILER_DATABASE_URL": url}


def database_vars(
    port: int, passwords: dict[str, str], principal: str = "admin", host: str = "127.0.0.1"
) -> dict[str, str]:
    role = postgres.DATABASE_ROLE_OF[principal]
    variables = {"PAYMENTS_DATABASE_URL": postgres.url(port, role, passwords[role], host=host)}
    if principal == "admin":
        variables |= {
            "PAYMENTS_ADMIN_DATABASE_URL": postgres.url(
                port, postgres.ADMIN_ROLE, passwords[postgres.ADMIN_ROLE], host=host
            ),
            "PAYMENTS_SUPERUSER_DATABASE_URL": postgres.url(
                port, postgres.SUPERUSER, passwords[postgres.SUPERUSER], host=host
            ),
        }
    return variables
