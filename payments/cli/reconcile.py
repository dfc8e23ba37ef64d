"""`payments reconcile`: import bank statements, report, resolve exceptions.

Operator commands with direct access to the event store (as `payments keys`): run
them with the environment of `payments services env --principal admin`, or a
PAYMENTS_DATABASE_URL of a role that may append events and read the audit log.
Every change is an event whose actor is `--actor` (default operator:$USER) and whose
reason is `--reason` (docs/reconciliation.md).
"""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path

import click

from payments.runtime.settings import Settings


def _operator() -> str:
    return f"operator:{getpass.getuser()}"


@click.group("reconcile")
def reconcile() -> None:
    """Bank statements against the ledger: import, report, resolve."""


@reconcile.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "account_id", required=True, help="The external account it reconciles.")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["camt053", "mt940", "csv"]),
    default=None,
    help="The file's format (default: recognised from its first bytes).",
)
@click.option("--tolerance-days", default=2, show_default=True, type=click.IntRange(0, 31),
              help="How far a value date may be from a posting's day.")  # fmt: skip
@click.option("--reason", default=None, help="Why, for the audit log (default: the file's name).")
@click.option("--actor", default=None, help="Who is doing this (default operator:$USER).")
def import_command(
    file: Path,
    account_id: str,
    format_: str | None,
    tolerance_days: int,
    reason: str | None,
    actor: str | None,
) -> None:
    """Import FILE's statements for ACCOUNT, match them, open exceptions.

    A statement that does not add up (opening + lines != closing) is refused with the
    difference, and nothing of the file is stored; one already imported changes nothing.

    \b
    Example:
      payments reconcile import stmt-2026-11-28.xml --account payout
    """
    from payments.integrations.statements.model import StatementError
    from payments.reconciliation.importing import import_file
    from payments.reconciliation.ledger_side import NotAnExternalAccount

    try:
        done = import_file(
            Settings(), file, account_id=account_id, format=format_,
            actor=actor or _operator(), reason=reason or f"statement file {file.name}",
            tolerance_days=tolerance_days,
        )  # fmt: skip
    except (StatementError, NotAnExternalAccount) as error:
        raise click.ClickException(f"{error} [{error.code}]") from None
    for item in done:
        if item.duplicate:
            click.echo(f"{item.statement_id} ({item.bank_statement_id}): already imported, "
                       "nothing changed")  # fmt: skip
            continue
        assert item.result is not None
        click.echo(
            f"{item.statement_id} ({item.bank_statement_id}): {item.lines} line(s), "
            f"{item.result.matched_lines} matched, {len(item.exception_ids)} exception(s)"
        )
        for exception_id in item.exception_ids:
            click.echo(f"  exception {exception_id}")


@reconcile.command("report")
@click.option("--date", "on", default=None, help="Statements closing on this ISO date.")
@click.option("--format", "format_", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)  # fmt: skip
def report_command(on: str | None, format_: str) -> None:
    """Matched, unmatched per side, exceptions open and resolved, drift per account."""
    import psycopg

    from payments.ledger.statements import reconciliation_facts
    from payments.ledger.store import open_application
    from payments.tools.reconcile.report import build_report, render

    try:
        day = None if on is None else date.fromisoformat(on)
    except ValueError:
        raise click.BadParameter(f"{on!r} is not an ISO date", param_hint="--date") from None
    settings = Settings()
    url = settings.require_database_url()
    app = open_application(settings, snapshots=False)
    try:
        facts = reconciliation_facts(app, url)
    finally:
        app.close()
    with psycopg.connect(url) as conn:
        report = build_report(facts, conn, day)
    click.echo(render(report, format_), nl=False)


@reconcile.command("resolve")
@click.argument("exception_id")
@click.option("--reason", required=True, help="Why it is resolved, for the audit log.")
@click.option("--actor", default=None, help="Who is doing this (default operator:$USER).")
def resolve_command(exception_id: str, reason: str, actor: str | None) -> None:
    """Resolve EXCEPTION_ID with a reason (an audited event; once only).

    \b
    Example:
      payments reconcile resolve payout:3f2a9c1b0d4e5f60:2 --reason "bank fee, booked"
    """
    from payments.domain.reconciliation import AlreadyResolved
    from payments.ledger.statements import ReconcileError, resolve_exception
    from payments.ledger.store import open_application

    app = open_application(Settings(), snapshots=False)
    try:
        resolve_exception(app, exception_id=exception_id, reason=reason,
                          actor=actor or _operator())  # fmt: skip
    except (ReconcileError, AlreadyResolved) as error:
        raise click.ClickException(f"{error} [{error.code}]") from None
    finally:
        app.close()
    click.echo(f"exception {exception_id} resolved")
