"""`payments demo`: the README's first command."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import psycopg
from rich.console import Console
from rich.table import Table

from payments.runtime.settings import Settings
from payments.tools.demo import api as demo_api
from payments.tools.demo import disputes as desk
from payments.tools.demo.run import (
    DemoFailed,
    DemoRun,
    new_tag,
    publish_and_collect,
    start_system,
    wait_for_read_models,
)
from payments.tools.demo.scenario import business_day, demo_accounts
from payments.tools.services import control, holder_kek
from payments.tools.services.config import ServiceConfig
from projections import queries
from projections.rebuild.source import StoreEventSource
from projections.rebuild.verify import verify


def _money(cents: int | None) -> str:
    return "" if cents is None else f"{cents / 100:,.2f}".replace(",", " ")


@click.command("demo")
@click.option(
    "--keep-running",
    is_flag=True,
    help="Leave the engine, consumers and services running afterwards.",
)
def demo_command(keep_running: bool) -> None:
    """Play a day of a small payments business through Kafka, then show the books.

    Starts the local services if no PAYMENTS_DATABASE_URL / PAYMENTS_KAFKA_BOOTSTRAP
    is set, runs the engine and the consumers, publishes wallet top-ups, card
    authorizations and captures, a refund, a chargeback, a transfer, merchant
    settlements, two disputes (one accepted and lost; one contested and won through
    the admin API by two operators) and some commands that must be rejected, prints
    the balances, the settlement batches and the audit trail, and ends with
    `payments verify`.

    \b
    Example:
      payments demo                 # everything, then stop what it started
      payments demo --keep-running  # leave it up to query and send more
    """
    console = Console()
    settings = Settings()
    started_services = False
    if settings.database_url is None or not settings.kafka_bootstrap:
        console.print("[bold]Starting local PostgreSQL and Kafka[/bold] (first time: ~1 min)")
        # The demo plays the operator (it verifies at the end); its engine and
        # consumers get their own roles (payments.tools.demo.run.start_system).
        say = lambda line: console.print(f"  [dim]{line}[/dim]")  # noqa: E731
        # Stop afterwards only what this run started: a developer's running services
        # (their tests, their engine) stay up.
        was_running = all(service["running"] for service in control.status())
        os.environ.update(control.up(say=say, principal="admin"))
        settings = Settings()
        started_services = not was_running
    child_env = {k: v for k, v in os.environ.items() if k.startswith("PAYMENTS_")}
    child_env.setdefault("PAYMENTS_LOG_FORMAT", "json")
    # The engine seals holders' data with the local KEK, made on first use.
    child_env.setdefault(
        "PAYMENTS_HOLDER_KEY_FILE", str(holder_kek.ensure_kek(ServiceConfig.from_settings()))
    )
    log_dir = ServiceConfig.from_settings().state_dir / "logs"
    port = demo_api.free_port()
    api_child = demo_api.api_env(settings, child_env, port)
    api = demo_api.DemoApi(f"http://127.0.0.1:{port}", demo_api.issue_demo_key(settings))
    system = start_system(child_env, log_dir, settings, api_child)
    console.print(
        f"[bold]Engine[/bold] pid {system.pids['engine']}, [bold]consumers[/bold] "
        f"pid {system.pids['consumers']} and the [bold]HTTP API[/bold] pid "
        f"{system.pids['api']} on {api.base} started (logs in {log_dir})"
    )
    ok = False
    try:
        tag = new_tag()
        run = DemoRun(tag, business_day(tag))
        run.outcomes = publish_and_collect(settings, run.steps, console)
        _print_story(console, run)
        wait_for_read_models(settings, console)
        _print_books(console, settings, tag)
        api_ok = _print_api_calls(console, api, tag, log_dir, show_key=keep_running)
        api_ok = _print_dispute_desk(console, settings, api.base, tag) and api_ok
        recon_ok = _print_reconciliation(console, settings, tag, log_dir.parent / "statements")
        wait_for_read_models(settings, console)  # the API's command too, before verify
        ok = _print_verify(console, settings) and not run.surprises() and api_ok and recon_ok
    except DemoFailed as failure:
        console.print(f"[bold red]demo failed:[/bold red] {failure} (logs in {log_dir})")
    finally:
        if keep_running:
            console.print(
                "\n[bold]Still running.[/bold] Try:\n"
                f'  eval "$(payments services env)"   # the client: send, balance\n'
                f"  payments balance alice.{tag}\n"
                f"  payments settlement cafe-day.{tag}\n"
                "  echo '{...envelope...}' | payments send\n"
                f'  curl -H "Authorization: Bearer $KEY" {api.base}/accounts/alice.{tag}\n'
                f"Stop with: kill {' '.join(str(pid) for pid in system.pids.values())}"
                " && payments services down"
            )
        else:
            system.stop_all()
            if started_services:
                control.down()
                console.print("[dim]stopped the engine, the consumers and the services[/dim]")
    sys.exit(0 if ok else 1)


def _print_api_calls(
    console: Console, api: demo_api.DemoApi, tag: str, log_dir: Path, show_key: bool
) -> bool:
    """A balance, a statement and a command through the HTTP API: real calls, real
    answers; the statement also as CSV and PDF files. False if one went wrong."""
    prefix = api.key.split("_")[1]
    shown_key = api.key if show_key else f"pek_{prefix}_…"
    console.print(
        f"\n[bold]The HTTP API[/bold] ({api.base}, docs/api.md) with an API key of "
        f"{demo_api.DEMO_PRINCIPAL} (an hour): KEY={shown_key}"
    )
    today = datetime.now(UTC).date()
    period = f"from={today}T00:00:00Z&to={today + timedelta(days=1)}T00:00:00Z"
    statement = f"/accounts/alice.{tag}/statements?{period}"
    dave = {"account_id": f"dave.{tag}", "currency": "EUR", "kind": "customer"}
    command = {"command_id": f"demo.{tag}.api-1", "type": "open_account", "payload": dave}
    calls = [
        ("GET", f"/accounts/alice.{tag}", None, 200),
        ("GET", statement, None, 200),
        ("POST", "/commands", command, 200),
    ]
    ok = True
    for method, path, body, expected in calls:
        answer = demo_api.call(api, method, path, body)
        line = _curl(api.base, method, path, body)
        console.print(line, style="bold", markup=False, highlight=False, soft_wrap=True)
        console.print(demo_api.shown(answer), markup=False, highlight=False)
        ok = _as_expected(console, f"{method} {path}", answer.status == expected) and ok
    for suffix, accept in (("csv", "text/csv"), ("pdf", "application/pdf")):
        answer = demo_api.call(api, "GET", statement, accept=accept)
        path = log_dir / f"demo-statement-alice.{suffix}"
        path.write_bytes(answer.body)
        console.print(f"statement as {accept} ({answer.status}): {path}", markup=False)
        ok = _as_expected(console, f"the statement as {accept}", answer.status == 200) and ok
    return ok


def _curl(base: str, method: str, path: str, body: dict | None, key: str = "$KEY") -> str:
    data = f" -d '{json.dumps(body)}'" if body else ""
    verb = " -X POST -H 'Content-Type: application/json'" if method == "POST" else ""
    return f"$ curl -s{verb} -H \"Authorization: Bearer {key}\"{data} '{base}{path}'"


def _print_dispute_desk(console: Console, settings: Settings, base: str, tag: str) -> bool:
    """The books dispute contested and won through the admin API by two operators."""
    apis = desk.desk_apis(settings, base)
    console.print(
        f"\n[bold]The dispute desk[/bold] (docs/disputes-admin.md): {desk.OPERATORS[0]} "
        f"(KEY1) and {desk.OPERATORS[1]} (KEY2), the disputes role each"
    )
    ok = True
    for step in desk.desk_calls(tag):
        answer = demo_api.call(apis[step.operator], step.method, step.path, step.body)
        line = _curl(base, step.method, step.path, step.body, f"$KEY{step.operator + 1}")
        console.print(line, style="bold", markup=False, highlight=False, soft_wrap=True)
        console.print(demo_api.shown(answer), markup=False, highlight=False)
        ok = _as_expected(console, f"{step.method} {step.path}", step.expect(answer)) and ok
    answer = desk.decided(apis[0], tag)
    console.print(_curl(base, "GET", f"/disputes/dispute-books.{tag}", None, "$KEY1"),
                  style="bold", markup=False, highlight=False, soft_wrap=True)  # fmt: skip
    console.print(demo_api.shown(answer, limit=2000), markup=False, highlight=False)
    won = answer.status == 200 and answer.json()["status"] == "won"
    return _as_expected(console, "the dispute won", won) and ok


def _as_expected(console: Console, what: str, expected: bool) -> bool:
    """Say so when an answer is not the one the demo expects (the test greps for it)."""
    if not expected:
        console.print(f"[red]unexpected:[/red] {what}: not the answer expected", markup=True)
    return expected


def _print_story(console: Console, run: DemoRun) -> None:
    table = Table(title=f"The day's commands (run {run.tag})", title_justify="left")
    for column in ("#", "what happens", "command", "outcome", "why"):
        table.add_column(column)
    for number, (step, outcome) in enumerate(zip(run.steps, run.outcomes, strict=True), 1):
        status = outcome["status"]
        shown = (
            "[green]accepted[/green]" if status == "accepted" else f"[red]{outcome['code']}[/red]"
        )
        if outcome.get("replayed"):
            shown += " (replayed)"
        table.add_row(
            str(number), step.story, step.envelope["type"], shown, outcome.get("message") or ""
        )
    console.print(table)
    for step, outcome in run.surprises():
        console.print(f"[red]unexpected:[/red] {step.story}: {outcome}")


def _print_books(console: Console, settings: Settings, tag: str) -> None:
    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        _print_tables(console, conn, tag)


def _print_tables(console: Console, conn: psycopg.Connection, tag: str) -> None:
    balances = Table(title="Balances (EUR)", title_justify="left")
    for column in ("account", "kind", "posted", "held", "available", "status"):
        balances.add_column(
            column, justify="right" if column in {"posted", "held", "available"} else "left"
        )
    for account_id in demo_accounts(tag):
        row = queries.get_balance(conn, account_id)
        if row is not None:
            balances.add_row(
                account_id,
                row["kind"],
                _money(row["posted"]),
                _money(row["held"]),
                _money(row["available"]),
                row["status"],
            )
    console.print(balances)

    batches = Table(title="Settlement batches (EUR)", title_justify="left")
    for column in ("batch", "merchant", "gross", "refunds", "chargebacks", "fees", "net", "items"):
        batches.add_column(column)
    for batch_id in (f"cafe-day.{tag}", f"books-day.{tag}"):
        batch = queries.get_settlement(conn, batch_id)
        if batch is not None:
            batches.add_row(
                batch_id,
                batch["merchant_account"],
                _money(batch["gross"]),
                _money(batch["refunds"]),
                _money(batch["chargebacks"]),
                _money(batch["fees"]),
                _money(batch["net"]),
                str(batch["item_count"]),
            )
    console.print(batches)

    audit = Table(title="Last audit entries (hash-chained)", title_justify="left")
    for column in ("position", "event", "command", "actor", "hash"):
        audit.add_column(column)
    for entry in queries.last_audit_entries(conn, 8):
        audit.add_row(
            str(entry["position"]),
            entry["event_type"],
            str(entry["command_id"]),
            str(entry["actor"]),
            entry["hash"][:16] + "…",
        )
    console.print(audit)


def _print_reconciliation(console: Console, settings: Settings, tag: str, folder: Path) -> bool:
    """The payout account against the bank's statement of the day (docs/reconciliation.md)."""
    from payments.tools.demo.reconcile import BANK_FEE, reconcile_payouts
    from payments.tools.reconcile.report import render

    account = f"shop-payout.{tag}"
    console.print(f"\n[bold]Reconciliation[/bold] of {account} against the bank's statement "
                  f"(camt.053 in {folder}): `payments reconcile report`")  # fmt: skip
    report = reconcile_payouts(settings, account, folder)
    console.print(render(report, "table"), end="", markup=False, highlight=False)
    [line] = report.accounts
    expected = (line.unmatched_lines, line.exceptions_open, line.drift) == (1, 1, -BANK_FEE)
    if expected:
        console.print(
            f"  the bank's fee ({_money(-BANK_FEE)}) is the one exception, and the drift;"
            " resolve it with `payments reconcile resolve ID --reason …`"
        )
    else:
        console.print("[bold red]unexpected reconciliation[/bold red]")
    return expected


def _print_verify(console: Console, settings: Settings) -> bool:
    source = StoreEventSource(settings)
    try:
        report = verify(settings.require_database_url(), source)
    finally:
        source.close()
    if report.ok:
        console.print(
            f"[bold green]verify: OK[/bold green] — {report.events} events recomputed from "
            f"the event store match every table; {report.audit_rows} audit rows chain; "
            f"Σ posted per currency {report.posted_by_currency}"
        )
    else:
        console.print(f"[bold red]verify: {len(report.differences)} differences[/bold red]")
        for difference in report.differences[:20]:
            console.print(f"  {difference}")
    return report.ok
