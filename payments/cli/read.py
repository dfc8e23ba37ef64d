"""Read-side commands: consume, balance, payment, settlement, replay, verify, history.

Registered on the `payments` root group by payments/cli.py. Queries print a rich
table (plain text off a terminal) or, with --json, one JSON document; something not
found is one sentence on stderr and exit code 1. `verify` exits 1 on any difference.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any
from uuid import UUID

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from payments.runtime.settings import MissingSetting, Settings
from projections.schema import PROJECTIONS

_console = Console()
_CONSUME_CHOICES = [*PROJECTIONS, "all"]


def _settings() -> Settings:
    from payments.runtime.logging import configure_logging

    settings = Settings()
    configure_logging(settings)
    return settings


def _database_url(settings: Settings) -> str:
    try:
        return settings.require_database_url()
    except MissingSetting as missing:
        raise click.ClickException(str(missing)) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, default=_jsonable, indent=2))


def _print_row(title: str, row: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in row.items():
        if name != "items":
            table.add_row(name, str(value))
    _console.print(table)


def _not_found(sentence: str) -> None:
    click.echo(sentence, err=True)
    sys.exit(1)


@click.command("consume")
@click.argument("projection", type=click.Choice(_CONSUME_CHOICES), default="all")
@click.option(
    "--threads",
    is_flag=True,
    help="With `all`: run the projections as threads of this one process.",
)
def consume(projection: str, threads: bool) -> None:
    """Feed projection tables from the events topic until SIGTERM/SIGINT.

    `all` supervises one child process per projection (`payments consume <name>`,
    each with its own consumer group `<prefix>-projection-<name>`, connection and
    metrics port): each may use a core of its own where cores are spare, a child that
    exits is restarted, and SIGTERM stops them all together. A kill -9 of this process
    takes the children along; each resumes from its stored positions. /metrics and
    /health on port 9465 (PAYMENTS_METRICS_PORT) merge the children's.

    `all --threads` runs every projection in this one process, one thread each:
    fewer processes, connections and memory, one GIL for all; on a busy two-core
    machine it kept the read models closer behind (docs/benchmarks.md).

    \b
    Example:
      payments consume all            # balances, settlements, audit, … one process each
      payments consume all --threads  # the same in one process
      payments consume audit          # one projection in this process
    """
    from consumers.processes import run_consumer_processes
    from consumers.runner import run_consumers

    settings = _settings()
    names = list(PROJECTIONS) if projection == "all" else [projection]
    try:
        if projection == "all" and not threads:
            # Fail here on a missing setting, not in every child restarted forever.
            settings.require_database_url()
            settings.require_kafka_bootstrap()
            sys.exit(run_consumer_processes(settings, names))
        run_consumers(settings, names)
    except MissingSetting as missing:
        raise click.ClickException(str(missing)) from None


def _query(fetch_name: str, key: str) -> dict[str, Any] | None:
    import psycopg

    from projections import queries

    with psycopg.connect(_database_url(_settings())) as conn:
        return getattr(queries, fetch_name)(conn, key)


@click.command("balance")
@click.argument("account_id")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def balance(account_id: str, as_json: bool) -> None:
    """An account's balances (posted, held, available) from the balances table.

    \b
    Example:
      payments balance alice --json
    """
    row = _query("get_balance", account_id)
    if row is None:
        _not_found(f"No account {account_id!r} in the balances table.")
        return
    _print_json(row) if as_json else _print_row(f"account {account_id}", row)


@click.command("payment")
@click.argument("payment_id")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def payment(payment_id: str, as_json: bool) -> None:
    """A payment's amounts and status from the payments table.

    \b
    Example:
      payments payment order-1001
    """
    row = _query("get_payment", payment_id)
    if row is None:
        _not_found(f"No payment {payment_id!r} in the payments table.")
        return
    _print_json(row) if as_json else _print_row(f"payment {payment_id}", row)


@click.command("settlement")
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def settlement(batch_id: str, as_json: bool) -> None:
    """A settlement batch with its items.

    \b
    Example:
      payments settlement batch-2026-11-28
    """
    row = _query("get_settlement", batch_id)
    if row is None:
        _not_found(f"No settlement batch {batch_id!r} in the settlement tables.")
        return
    if as_json:
        _print_json(row)
        return
    _print_row(f"settlement batch {batch_id}", row)
    items = Table(title="items")
    for column in ("position", "kind", "payment_id", "amount"):
        items.add_column(column, justify="right" if column in ("position", "amount") else "left")
    for item in row["items"]:
        items.add_row(str(item["position"]), item["kind"], item["payment_id"], str(item["amount"]))
    _console.print(items)


def _end_offsets(settings: Settings) -> dict[int, int]:
    """Where consumers carry on after a replay (see projections.replay); needs Kafka."""
    from kafka.errors import KafkaError

    from projections.kafka_offsets import end_offsets

    topic = settings.topics.events
    try:
        return end_offsets(settings.require_kafka_bootstrap(), topic, settings.kafka_python_auth())
    except KafkaError as exc:
        raise click.ClickException(
            f"cannot read the end offsets of {topic} ({exc}); replay needs them to hand "
            "over to the consumers, so nothing was changed"
        ) from None


@click.command("replay")
@click.option(
    "--projection",
    "projections",
    type=click.Choice(PROJECTIONS),
    multiple=True,
    help="projection to rebuild (repeatable); default: all but the audit log. "
    "The audit log is evidence: it is rebuilt only when named.",
)
def replay(projections: tuple[str, ...]) -> None:
    """Rebuild projections from the event store into new tables and swap them in.

    \b
    Example:
      payments replay                      # balances, settlements, principals
      payments replay --projection audit   # the audit log too
    """
    from projections.rebuild.replay import replay as run_replay
    from projections.rebuild.source import StoreEventSource

    settings = _settings()
    chosen = projections or ("balances", "settlements", "principals")
    source = StoreEventSource(settings)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("replaying", total=None)

            def progress(position: int, last: int) -> None:
                bar.update(task, completed=position, total=last)

            result = run_replay(
                _database_url(settings),
                source,
                settings.topics.events,
                chosen,
                lambda: _end_offsets(settings),
                progress,
            )
    finally:
        source.close()
    click.echo(
        f"replayed {result.events} events up to position {result.last_position} into "
        f"{', '.join(result.projections)} in {result.seconds:.1f}s "
        f"({result.events_per_second:,.0f} events/s)"
    )


@click.command("verify")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option(
    "--signatures",
    is_flag=True,
    help="also check every stored command's signature with the stored public keys",
)
def verify(as_json: bool, signatures: bool) -> None:
    """Recompute the projections from the event store and check the audit chain.

    With --signatures, also re-check offline that every remembered command was signed
    by a key registered (and not revoked) before it, as its actor.

    \b
    Example:
      payments verify --signatures || echo 'the store and the tables disagree'
    """
    from dataclasses import asdict

    from projections.rebuild.source import StoreEventSource
    from projections.rebuild.verify import verify as run_verify

    settings = _settings()
    source = StoreEventSource(settings)
    try:
        report = run_verify(_database_url(settings), source)
    finally:
        source.close()
    signed = _check_signatures(_database_url(settings)) if signatures else None
    ok = report.ok and (signed is None or signed.ok)
    if as_json:
        extra = {"signatures": asdict(signed)} if signed is not None else {}
        _print_json({**asdict(report), **extra, "ok": ok})
    else:
        _print_verify(report)
        if signed is not None:
            _print_signatures(signed)
    sys.exit(0 if ok else 1)


def _check_signatures(database_url: str) -> Any:
    from projections.rebuild.signatures import check_signatures

    return check_signatures(database_url)


def _print_signatures(report: Any) -> None:
    _console.print(
        f"signatures: {report.commands} commands checked against {report.keys} keys"
        f" ({report.unsigned_legacy} records from before signing;"
        f" {report.personal_data_sealed} of personal data: key and principal only)"
    )
    if report.ok:
        _console.print("[green]every signature verifies[/green]")
        return
    table = Table(title=f"{len(report.failures)} signature failures")
    for column in ("position", "command_id", "why"):
        table.add_column(column)
    for position, command_id, why in report.failures[:1000]:
        table.add_row(str(position), command_id, why)
    _console.print(table)


def _print_verify(report: Any) -> None:
    _console.print(
        f"checked {report.events} events (to position {report.last_position}), "
        f"{report.audit_rows} audit rows; Σ posted per currency: "
        f"{report.posted_by_currency or '{}'}"
    )
    if report.ok:
        _console.print("[green]no differences[/green]")
        return
    table = Table(title=f"{len(report.differences)} differences")
    for column in ("table", "key", "column", "expected", "actual"):
        table.add_column(column)
    for d in report.differences[:1000]:
        table.add_row(d.table, d.key, d.column, str(d.expected)[:80], str(d.actual)[:80])
    _console.print(table)


def _parse_as_of(_ctx: click.Context, _param: click.Parameter, value: str) -> datetime:
    from projections.events import BadEvent, parse_time

    try:
        return parse_time(value)
    except BadEvent:
        raise click.BadParameter(
            "give an ISO-8601 time with a zone, e.g. 2026-11-28T10:00:00Z"
        ) from None


@click.command("history")
@click.argument("account_id")
@click.option("--as-of", required=True, callback=_parse_as_of, help="ISO-8601 time with a zone")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def history(account_id: str, as_of: datetime, as_json: bool) -> None:
    """An account's balances and movements up to a time, from the event store.

    \b
    Example:
      payments history alice --as-of 2026-11-28T12:00:00Z
    """
    from dataclasses import asdict

    from projections.rebuild.history import account_history
    from projections.rebuild.source import StoreEventSource

    source = StoreEventSource(_settings())
    try:
        found = account_history(source, account_id, as_of)
    finally:
        source.close()
    if found is None:
        _not_found(f"Account {account_id!r} did not exist at {as_of.isoformat()}.")
        return
    if as_json:
        _print_json(asdict(found))
        return
    balance_row = {k: found.balance[k] for k in ("posted", "held", "available", "status")}
    _print_row(f"account {account_id} as of {as_of.isoformat()}", balance_row)
    table = Table(title="movements")
    for column in ("position", "recorded_at", "event", "posted ±", "held ±", "posted", "held"):
        table.add_column(column)
    for m in found.movements:
        table.add_row(
            str(m.position),
            m.recorded_at.isoformat(),
            m.event_type,
            str(m.posted_change),
            str(m.held_change),
            str(m.posted_after),
            str(m.held_after),
        )
    _console.print(table)
