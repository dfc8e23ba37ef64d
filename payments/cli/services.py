"""`payments services up|down|status|env|smoke`."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from payments.runtime.settings import MissingSetting, Settings
from payments.tools.services import control
from payments.tools.services.config import ServiceConfig
from payments.tools.services.errors import ServiceError

F = TypeVar("F", bound=Callable[..., Any])
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _say(message: str) -> None:
    _err.print(f"[dim]services:[/dim] {message}", markup=True)


def _friendly(func: F) -> F:
    """Our errors become one sentence and exit code 1, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ServiceError, MissingSetting) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


@click.group()
def services() -> None:
    """Local PostgreSQL and Kafka for development and tests (no Docker needed)."""


@services.command()
@_friendly
def up() -> None:
    """Start PostgreSQL and Kafka (idempotent), create topics and schema.

    \b
    Example:
      payments services up && eval "$(payments services env)"
    """
    control.up(ServiceConfig.from_settings(), say=_say)


@services.command()
@click.option("--purge", is_flag=True, help="Also delete the state folder (data, passwords).")
@_friendly
def down(purge: bool) -> None:
    """Stop the services this project started.

    \b
    Example:
      payments services down --purge   # and delete their data
    """
    control.down(ServiceConfig.from_settings(), purge=purge, say=_say)


@services.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_friendly
def status(as_json: bool) -> None:
    """Show what runs where.

    \b
    Example:
      payments services status --json
    """
    rows = control.status(ServiceConfig.from_settings())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("service", "state", "pid", "address")
    table.add_column("log", overflow="fold")
    for row in rows:
        state = "[green]running[/green]" if row["running"] else "[red]stopped[/red]"
        table.add_row(row["service"], state, str(row["pid"] or "-"), row["address"], row["log"])
    Console().print(table)


@services.command()
@click.option(
    "--principal",
    type=click.Choice(list(control.PRINCIPALS)),
    default="client",
    show_default=True,
    help="whose Kafka credentials and database role (docs/security.md)",
)
@_friendly
def env(principal: str) -> None:
    """Print `export PAYMENTS_...=...` lines: eval "$(payments services env)".

    The credentials are one principal's, for Kafka and PostgreSQL alike: `client`
    sends commands, reads results and queries the projections; run the engine with
    `engine`, the consumers and `payments replay` with `projections`, `payments
    verify` and `history` with `audit` (no Kafka credentials); `admin` is the
    operator's (schema owner and superuser URLs too: db init, bench, tests).

    \b
    Example:
      eval "$(payments services env)"
      eval "$(payments services env --principal engine)" && payments engine
      (eval "$(payments services env --principal audit)" && payments verify)
    """
    for name, value in control.env_vars(ServiceConfig.from_settings(), principal).items():
        click.echo(f"export {name}={shlex.quote(value)}")


@services.command()
@_friendly
def topics() -> None:
    """Create the contract topics on PAYMENTS_KAFKA_BOOTSTRAP (any broker; idempotent).

    With PAYMENTS_KAFKA_USERNAME set (a super user), also the principals' ACLs.

    \b
    Example:
      PAYMENTS_KAFKA_BOOTSTRAP=kafka:9092 payments services topics
    """
    from payments.tools.services.acls import ensure_acls
    from payments.tools.services.topics import ensure_topics

    settings = Settings()
    bootstrap = settings.require_kafka_bootstrap()
    auth = settings.kafka_python_auth()
    counts = ensure_topics(bootstrap, settings.topics.partitions, auth)
    for topic, count in sorted(counts.items()):
        click.echo(f"{topic}: {count} partitions")
    if settings.kafka_username:
        ensure_acls(bootstrap, auth, settings.topic_prefix, settings.engine_group)
        click.echo("ACLs of engine, projections and client: in place")


@services.command()
@_friendly
def smoke() -> None:
    """Round-trip one Kafka message and one SQL query, printing what happened.

    \b
    Example:
      payments services smoke
    """
    from payments.tools.services.smoke import run

    run(ServiceConfig.from_settings(), say=click.echo)
