"""`payments reconcile report`: per account and currency, what matched, what did not,
the exceptions open and resolved, and the drift, as a table, CSV or JSON.

The statements and exceptions are the store's (payments.ledger.statements); the
ledger's balance is the audit log's, read now. `--date D` takes the statements that
close on D; without it, every statement. The drift compares the latest of them per
account with the ledger at the end of its closing day (UTC):

    ledger_balance = −posted   (the bank's money as the ledger sees it: the external
                                account is its other side, see payments.domain.matching)
    drift          = ledger_balance − statement closing balance

so 0 is agreement, and a positive drift is money the ledger expects in the bank that
the bank does not show.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import date

import psycopg

from payments.domain.reconciliation import ReconciliationException
from payments.domain.statement import BankStatement
from payments.ledger.statements import Facts
from payments.reconciliation.ledger_side import read_account

COLUMNS = (
    "account_id", "currency", "statements", "closing_date", "lines", "matched_lines",
    "unmatched_lines", "matched_postings", "unmatched_postings", "exceptions_open",
    "exceptions_resolved", "statement_closing", "ledger_posted", "ledger_balance", "drift",
)  # fmt: skip


@dataclass
class AccountLine:
    account_id: str
    currency: str
    statements: int = 0
    closing_date: str = ""
    lines: int = 0
    matched_lines: int = 0
    unmatched_lines: int = 0
    matched_postings: int = 0
    unmatched_postings: int = 0
    exceptions_open: int = 0
    exceptions_resolved: int = 0
    statement_closing: int = 0
    ledger_posted: int = 0
    ledger_balance: int = 0
    drift: int = 0


@dataclass(frozen=True)
class ExceptionLine:
    exception_id: str
    account_id: str
    currency: str
    kind: str
    amount: int
    value_date: str
    status: str
    reason: str
    resolved_by: str
    resolution: str


@dataclass
class Report:
    date: str | None
    accounts: list[AccountLine] = field(default_factory=list)
    exceptions: list[ExceptionLine] = field(default_factory=list)


def build_report(facts: Facts, conn: psycopg.Connection, on: date | None) -> Report:
    chosen = [s for s in facts.statements if on is None or s.closing_date == str(on)]
    ids = {s.statement_id for s in chosen}
    exceptions = [x for x in facts.exceptions if x.statement_id in ids]
    report = Report(None if on is None else str(on))
    by_account: dict[tuple[str, str], list[BankStatement]] = {}
    for statement in chosen:
        by_account.setdefault((statement.account_id, statement.currency), []).append(statement)
    for (account_id, currency), statements in sorted(by_account.items()):
        report.accounts.append(_account_line(conn, account_id, currency, statements, exceptions))
    report.exceptions = [_exception_line(x) for x in exceptions]
    return report


def _account_line(
    conn: psycopg.Connection,
    account_id: str,
    currency: str,
    statements: list[BankStatement],
    exceptions: list[ReconciliationException],
) -> AccountLine:
    # the latest closing date; of two closing the same day, the one imported last
    latest = max(enumerate(statements), key=lambda item: (item[1].closing_date, item[0]))[1]
    line = AccountLine(account_id, currency, statements=len(statements))
    for statement in statements:
        line.lines += len(json.loads(statement.lines))
        line.matched_lines += statement.counts["matched_lines"]
        line.matched_postings += statement.counts["matched_postings"]
        line.unmatched_lines += statement.unmatched["lines"]
        line.unmatched_postings += statement.unmatched["postings"]
    own = [x for x in exceptions if x.account_id == account_id]
    line.exceptions_open = sum(not x.resolved for x in own)
    line.exceptions_resolved = sum(x.resolved for x in own)
    line.closing_date = latest.closing_date
    line.statement_closing = latest.closing
    ledger = read_account(conn, account_id)
    line.ledger_posted = ledger.posted_at_end_of(date.fromisoformat(latest.closing_date))
    line.ledger_balance = -line.ledger_posted
    line.drift = line.ledger_balance - line.statement_closing
    return line


def _exception_line(found: ReconciliationException) -> ExceptionLine:
    return ExceptionLine(
        found.exception_id, found.account_id, found.currency, found.kind, found.amount,
        found.value_date, "resolved" if found.resolved else "open", found.why,
        found.resolved_by, found.resolution,
    )  # fmt: skip


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(asdict(report), indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for line in report.accounts:
            writer.writerow(asdict(line))
        return out.getvalue()
    if fmt == "table":
        return _table(report)
    raise ValueError(f"format {fmt!r}: one of table, csv, json")


def _table(report: Report) -> str:
    title = f"Reconciliation {report.date or '(every statement)'}"
    rows = [COLUMNS, *([str(v) for v in asdict(line).values()] for line in report.accounts)]
    text = [title, *_aligned(rows)]
    if report.exceptions:
        columns = ("exception_id", "kind", "amount", "value_date", "status", "reason")
        exception_rows = [columns] + [
            [str(getattr(x, c)) for c in columns] for x in report.exceptions
        ]
        text += ["", "Exceptions", *_aligned(exception_rows)]
    return "\n".join(text) + "\n"


def _aligned(rows: list) -> list[str]:  # type: ignore[type-arg]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
