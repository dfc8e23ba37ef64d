"""Command line of the engine: `payments engine` and `payments send`."""

from __future__ import annotations

import json
import sys
import threading

import click
from rich.console import Console
from rich.table import Table

from payments.client.send import send_commands
from payments.runtime.logging import configure_logging
from payments.runtime.settings import Settings


@click.command("engine")
@click.option("--no-relay", is_flag=True, help="Do not start the event relay child process.")
def engine_command(no_relay: bool) -> None:
    """Run the engine: consume commands, decide them, answer, relay events.

    Several engines may run in one consumer group; each takes a share of the
    partitions, and exactly one of them relays events at a time.

    \b
    Example:
      eval "$(payments services env --principal engine)" && payments engine
    """
    # Imported here so `payments --help` does not load the whole engine.
    from payments.engine.process import run_engine
    from payments.runtime.stop_signals import install_stop_signals

    settings = Settings()
    configure_logging(settings)
    stop = threading.Event()
    install_stop_signals(stop)
    run_engine(settings, stop, relay=not no_relay)


@click.command("relay")
def relay_command() -> None:
    """Run only the event relay: every stored event, in order, onto the events topic.

    `payments engine` starts one as its child; run this instead with `engine
    --no-relay` to place the relay elsewhere. One relay per topic publishes at a time.

    \b
    Example:
      eval "$(payments services env --principal engine)" && payments relay
    """
    from payments.engine.process import run_relay
    from payments.runtime.stop_signals import install_stop_signals

    settings = Settings()
    configure_logging(settings)
    stop = threading.Event()
    install_stop_signals(stop)
    run_relay(settings, stop)


@click.command("send")
@click.argument("source", type=click.File("r"), default="-")
@click.option("--json", "as_json", is_flag=True, help="Print outcomes as JSON lines.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for outcomes.")
@click.option(
    "--in-order/--by-entity",
    default=True,
    show_default=True,
    help="--in-order (default): every line under one key, so one partition, decided in "
    "file order; what a file of commands means. --by-entity: each line keyed by the "
    "payment or account it touches, spread over partitions for bulk loads; order holds "
    "only within one payment or account.",
)
def send_command(
    source: click.utils.LazyFile, as_json: bool, timeout: float, in_order: bool
) -> None:
    """Publish command envelopes (JSON lines, a file or stdin) and print their outcomes.

    By default the lines are decided in file order (--in-order), so a transfer may
    follow the open_account lines of its accounts; --by-entity trades that for
    throughput. Exits 1 if any command was rejected or got no outcome in time.

    \b
    Example:
      echo '{"command_id":"c-1","type":"open_account","actor":"ops",
             "payload":{"account_id":"alice","currency":"EUR","kind":"customer"}}' \\
        | payments send
    """
    settings = Settings()
    configure_logging(settings)
    result = send_commands(settings, source, timeout=timeout, in_order=in_order)
    rows = [
        result.outcomes.get(command_id) or {"command_id": command_id, "status": "timed_out"}
        for command_id in result.sent
    ]
    if as_json or not sys.stdout.isatty():
        for row in rows:
            click.echo(json.dumps(row))
    else:
        table = Table("command_id", "type", "status", "code", "message", "replayed")
        for row in rows:
            table.add_row(
                row["command_id"],
                str(row.get("type") or ""),
                row["status"],
                str(row.get("code") or ""),
                str(row.get("message") or ""),
                "yes" if row.get("replayed") else "",
            )
        Console().print(table)
    for line in result.invalid_lines:
        click.echo(
            f"not a command envelope (needs a JSON object with command_id): {line}", err=True
        )
    failed = any(row["status"] != "accepted" for row in rows) or result.invalid_lines
    sys.exit(1 if failed else 0)
