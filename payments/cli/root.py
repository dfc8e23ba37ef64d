"""The `payments` command line: a root group that imports a subcommand's module only
when that subcommand runs (click's lazy-group pattern), so `payments --help` and
`payments balance` do not pay for the benchmark's or the engine's imports."""

from __future__ import annotations

import importlib
import sys

import click

# name -> "module:attribute"; one module per command group under payments/cli/.
SUBCOMMANDS = {
    "services": "payments.cli.services:services",
    "demo": "payments.cli.demo:demo_command",
    "engine": "payments.cli.engine:engine_command",
    "relay": "payments.cli.engine:relay_command",
    "send": "payments.cli.engine:send_command",
    "bench": "payments.cli.bench:bench",
    "schemas": "payments.cli.schemas:schemas_command",
    "db": "payments.cli.db:db",
    "consume": "payments.cli.read:consume",
    "balance": "payments.cli.read:balance",
    "payment": "payments.cli.read:payment",
    "settlement": "payments.cli.read:settlement",
    "replay": "payments.cli.read:replay",
    "verify": "payments.cli.read:verify",
    "history": "payments.cli.read:history",
    "keys": "payments.cli.keys:keys",
    "roles": "payments.cli.keys:roles",
    "api": "payments.cli.api:api_command",
    "schedule": "payments.cli.schedule:schedule",
    "screen": "payments.cli.screen:screen",
    "reconcile": "payments.cli.reconcile:reconcile",
}

# One line each for `payments --help`, so listing the commands imports none of them.
SUMMARIES = {
    "services": "Local PostgreSQL and Kafka for development and tests.",
    "demo": "Play a day of a small payments business end to end.",
    "engine": "Run the engine: decide commands from Kafka, relay events.",
    "relay": "Run only the event relay (the engine starts one itself).",
    "send": "Publish JSON commands (one per line) and print their outcomes.",
    "bench": "Benchmark the engine next to pgbench and a naive baseline.",
    "schemas": "Write the JSON Schemas of the contract to docs/schemas/.",
    "db": "The database schema.",
    "consume": "Run projection consumers (balances, settlements, audit or all).",
    "balance": "Show an account's balances.",
    "payment": "Show a payment.",
    "settlement": "Show a settlement batch and its items.",
    "replay": "Rebuild projections from the event store.",
    "verify": "Recompute every table from the store and check the audit chain.",
    "history": "Show an account's balances at a moment in the past.",
    "keys": "Keys of principals: signing keys and HTTP API keys.",
    "roles": "Roles of principals: the table, list, grant, revoke.",
    "api": "Serve the HTTP API: authenticated reads of the projections.",
    "schedule": "Scheduled commands (sweeps): list them, publish one tick.",
    "screen": "KYC/AML screenings: answer the pending ones with the local screener.",
    "reconcile": "Bank statements against the ledger: import, report, resolve.",
}


class LazyGroup(click.Group):
    """Subcommands by import path; one-sentence errors unless --debug."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES[name]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as error:
            from payments.cli.errors import explain

            sentence = explain(error)
            if sentence is None or ctx.params.get("debug"):
                raise
            click.echo(f"Error: {sentence}", err=True)
            sys.exit(1)


@click.group(cls=LazyGroup)
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
