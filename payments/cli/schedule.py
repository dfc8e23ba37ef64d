"""`payments schedule`: the scheduled commands (sweeps) and one tick of them."""

from __future__ import annotations

from datetime import datetime

import click

from payments.cli.outcomes import echo_outcomes
from payments.runtime.settings import Settings


@click.group("schedule")
def schedule() -> None:
    """Scheduled commands: sweeps that act on what is due at a moment."""


@schedule.command("list")
def list_sweeps() -> None:
    """The registered sweeps, one per line: command type and what it does."""
    from payments.tools.schedule import SWEEPS

    for command_type, summary in SWEEPS.items():
        click.echo(f"{command_type}\t{summary}")


@schedule.command("tick")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="The moment (ISO-8601 with its zone, e.g. 2026-12-02T10:00:00Z); default now.",
)
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for outcomes.")
def tick_command(as_of: str | None, timeout: float) -> None:
    """Publish every registered sweep for one moment, signed, and print the outcomes.

    Each sweep's command id is schedule:<type>:<as_of>, so running the same tick again
    applies nothing (its outcomes come back with "replayed": true). The signing key's
    principal needs the `scheduler` role. Exits 1 if a sweep was rejected or got no
    outcome in time.

    \b
    Example (from cron, every minute):
      eval "$(payments services env)" && payments schedule tick
    """
    from payments.domain.sweeps import parse_as_of
    from payments.tools.schedule import tick

    moment: datetime | None = None
    if as_of is not None:
        try:
            moment = parse_as_of(as_of)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--as-of") from None
    settings = Settings()
    _, result = tick(settings, moment, timeout=timeout)
    echo_outcomes(result)
