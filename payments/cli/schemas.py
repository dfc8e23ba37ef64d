"""`payments schemas`: regenerate docs/schemas/ from the models, or check it is fresh."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from payments.tools.contract_docs.schemas import DEFAULT_DIR, stale, write


@click.command("schemas")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="Directory of the schema files.",
)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if any file is stale.")
def schemas_command(out: Path, check: bool) -> None:
    """Write the contract's JSON Schemas (commands, outcome, dead letter, events), and the
    HTTP API's OpenAPI document (docs/openapi.json).

    Run it after changing a command model in payments/domain/commands.py or a message model
    in payments/contract/messages.py, and commit the result.

    \b
    Example:
      payments schemas && git diff --stat docs/schemas
    """
    changed = stale(out) if check else write(out)
    changed += _openapi(check)
    for path in changed:
        click.echo(f"{'stale' if check else 'written'}: {out / path}")
    if check and changed:
        click.echo("run `payments schemas` and commit docs/schemas/", err=True)
        sys.exit(1)
    if not changed:
        click.echo(f"{out}: up to date")


def _openapi(check: bool) -> list[Path]:
    """docs/openapi.json, generated from the API's routes and models."""
    from payments.api.app import create_app
    from payments.api.openapi import DEFAULT_PATH, render, write
    from payments.runtime.settings import Settings

    app = create_app(Settings())
    if check:
        fresh = DEFAULT_PATH.exists() and DEFAULT_PATH.read_text() == render(app)
        return [] if fresh else [DEFAULT_PATH]
    return [DEFAULT_PATH] if write(app) else []
