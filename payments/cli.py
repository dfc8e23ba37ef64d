"""The `payments` command line: a root group; subcommands live next to what they run."""

from __future__ import annotations

import sys

import click

from payments.bench.cli import bench
from payments.cli_errors import explain
from payments.contract_docs.cli import schemas_command
from payments.demo.cli import demo_command
from payments.engine.cli import engine_command, relay_command, send_command
from payments.schema import db
from payments.services.cli import services
from projections.cli import COMMANDS as READ_SIDE_COMMANDS


class FriendlyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as error:
            sentence = explain(error)
            if sentence is None or ctx.params.get("debug"):
                raise
            click.echo(f"Error: {sentence}", err=True)
            sys.exit(1)


@click.group(cls=FriendlyGroup)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """An event-sourced payments engine: Kafka in, PostgreSQL event store, Kafka out.

    \b
    Start here:
      payments demo                     # a day of business, end to end
      payments services up && eval "$(payments services env)"
      payments engine & payments consume all &
      payments balance ACCOUNT
    """


main.add_command(services)
main.add_command(demo_command)
main.add_command(engine_command)
main.add_command(send_command)
main.add_command(relay_command)
main.add_command(bench)
main.add_command(schemas_command)
main.add_command(db)
for read_side_command in READ_SIDE_COMMANDS:
    main.add_command(read_side_command)

if __name__ == "__main__":
    main()
