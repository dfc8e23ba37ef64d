"""The `payments` command line: a root group; subcommands live next to what they run."""

from __future__ import annotations

import click

from payments.contract_docs.cli import schemas_command
from payments.demo.cli import demo_command
from payments.engine.cli import engine_command, send_command
from payments.schema import db
from payments.services.cli import services
from projections.cli import COMMANDS as READ_SIDE_COMMANDS


@click.group()
def main() -> None:
    """An event-sourced payments engine: Kafka in, PostgreSQL event store, Kafka out."""


main.add_command(services)
main.add_command(demo_command)
main.add_command(engine_command)
main.add_command(send_command)
main.add_command(schemas_command)
main.add_command(db)
for read_side_command in READ_SIDE_COMMANDS:
    main.add_command(read_side_command)

if __name__ == "__main__":
    main()
