"""`payments reconcile import`: read a statement file, match it, store it (one
transaction per statement: payments.ledger.statements).

Imports of one account are serialized by a PostgreSQL advisory lock held while the
ledger is read, matched and the result stored, so two imports never match the same
posting twice. A posting matched by an earlier statement of the account is not
offered again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg

from payments.domain.matching import (
    DEFAULT_TOLERANCE_DAYS,
    BankLine,
    MatchResult,
    match,
    without_reported,
)
from payments.integrations.statements.model import BankStatement, StatementError
from payments.integrations.statements.reading import read_statements
from payments.ledger.statements import (
    find_statement,
    reconciliation_facts,
    record_import,
    statement_id_of,
)
from payments.ledger.store import PaymentsApplication, open_application
from payments.runtime.settings import Settings
from payments.tools.reconcile.ledger_side import LedgerAccount, read_account

LOCK_CLASS = 0x7265636F  # "reco": the first key of pg_advisory_lock(int, int)


@dataclass(frozen=True)
class ImportedStatement:
    statement_id: str
    bank_statement_id: str
    duplicate: bool
    lines: int
    result: MatchResult | None  # None for a duplicate
    exception_ids: tuple[str, ...]


def period_of(statement: BankStatement) -> tuple[date, date]:
    """The days the statement speaks for: after its opening balance's day (the previous
    closing) up to its closing day; a one-day statement opens and closes on its day."""
    start = statement.opening_date + timedelta(days=1)
    return (min(start, statement.closing_date), statement.closing_date)


def check_account(ledger: LedgerAccount, statements: list[BankStatement]) -> None:
    """Every statement of the file is in the account's currency, before any is stored."""
    for statement in statements:
        if statement.currency != ledger.currency:
            raise StatementError(
                f"statement {statement.bank_statement_id} is in {statement.currency},"
                f" account {ledger.account_id} in {ledger.currency}"
            )


def import_file(
    settings: Settings,
    path: Path,
    *,
    account_id: str,
    format: str | None,
    actor: str,
    reason: str,
    tolerance_days: int = DEFAULT_TOLERANCE_DAYS,
) -> list[ImportedStatement]:
    data = path.read_bytes()
    statements = read_statements(data, format)  # every one balanced, or StatementError
    file_sha256 = hashlib.sha256(data).hexdigest()
    url = settings.require_database_url()
    app = open_application(settings, snapshots=False)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, account_id))
            check_account(read_account(conn, account_id), statements)
            facts = reconciliation_facts(app, url)
            taken = facts.matched_postings(account_id)
            reported = facts.reported_postings(account_id)
            step = _Import(app, conn, account_id, file_sha256, actor, reason, tolerance_days)
            done = [step.one(statement, taken, reported) for statement in statements]
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, account_id))
    finally:
        app.close()
    return done


@dataclass(frozen=True)
class _Import:
    app: PaymentsApplication
    conn: psycopg.Connection
    account_id: str
    file_sha256: str
    actor: str
    reason: str
    tolerance_days: int

    def one(
        self, statement: BankStatement, taken: set[str], reported: set[str]
    ) -> ImportedStatement:
        """Match and store one statement; `taken` (posting ids matched) and `reported`
        (posting ids of unmatched_posting exceptions) grow."""
        existing = find_statement(self.app, statement_id_of(self.account_id, statement))
        if existing is not None:
            return ImportedStatement(
                existing.statement_id, statement.bank_statement_id, True,
                len(statement.lines), None, existing.exception_ids,
            )  # fmt: skip
        ledger = read_account(self.conn, self.account_id)
        start, end = period_of(statement)
        first = start - timedelta(days=self.tolerance_days)
        last = end + timedelta(days=self.tolerance_days)
        offered = [
            p for p in ledger.postings if p.posting_id not in taken and first <= p.day <= last
        ]
        lines = [
            BankLine(x.line, x.amount, x.value_date, x.reference, x.end_to_end_id)
            for x in statement.lines
        ]
        result = without_reported(
            match(lines, offered, period=(start, end), tolerance_days=self.tolerance_days),
            reported,
        )
        outcome = record_import(
            self.app, account_id=self.account_id, statement=statement,
            file_sha256=self.file_sha256, result=result, ledger_position=ledger.position,
            tolerance_days=self.tolerance_days, actor=self.actor, reason=self.reason,
        )  # fmt: skip
        taken |= {p for m in result.matches for p in m.postings}
        reported |= {p for b in result.breaks if b.kind == "unmatched_posting" for p in b.postings}
        return ImportedStatement(
            outcome.statement_id, statement.bank_statement_id, outcome.duplicate,
            len(statement.lines), None if outcome.duplicate else result, outcome.exception_ids,
        )  # fmt: skip
