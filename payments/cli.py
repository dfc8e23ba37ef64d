"""The `payments` command line: a root group; subcommands live next to what they run."""

from __future__ import annotations

import click

from payments.services.cli import services


@click.group()
def main() -> None:
    """An event-sourced payments engine: Kafka in, PostgreSQL event store, Kafka out."""


main.add_command(services)
