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

from payments.domain.ids import recon_exception_to_uuid
from payments.domain.matching import (
    DEFAULT_TOLERANCE_DAYS,
    BankLine,
    MatchResult,
    match,
    without_reported,
)
from payments.domain.reconciliation import ReconciliationException
from payments.domain.statement import BankStatement as StoredStatement
from payments.integrations.statements.model import BankStatement, StatementError
from payments.integrations.statements.reading import read_statements
from payments.ledger.statements import (
    find_statement,
    reconciliation_facts,
    record_import,
    statement_id_of,
)
from payments.ledger.store import PaymentsApplication, application_env
from payments.reconciliation.ledger_side import LedgerAccount, read_account
from payments.runtime.settings import Settings

LOCK_CLASS = 0x7265636F  # "reco": the first key of pg_advisory_lock(int, int)


@dataclass(frozen=True)
class OpenedException:
    exception_id: str
    kind: str
    amount: int
    value_date: str
    reason: str
    resolved: bool


@dataclass(frozen=True)
class ImportedStatement:
    statement_id: str
    bank_statement_id: str
    duplicate: bool
    lines: int
    result: MatchResult | None  # None for a duplicate
    exception_ids: tuple[str, ...]
    counts: dict[str, int]  # matched_lines, matched_postings, unmatched_lines, unmatched_postings
    exceptions: tuple[OpenedException, ...]  # as stored (a duplicate's: as they are now)


def _stored_exceptions(
    app: PaymentsApplication, ids: tuple[str, ...]
) -> tuple[OpenedException, ...]:
    loaded = app.load_many([recon_exception_to_uuid(x) for x in ids])
    found = [loaded.get(recon_exception_to_uuid(x)) for x in ids]
    return tuple(
        OpenedException(x.exception_id, x.kind, x.amount, x.value_date, x.why, x.resolved)
        for x in found
        if isinstance(x, ReconciliationException)
    )


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
    return import_data(
        settings.require_database_url(), path.read_bytes(), account_id=account_id,
        format=format, actor=actor, reason=reason, tolerance_days=tolerance_days,
    )  # fmt: skip


def import_data(
    database_url: str,
    data: bytes,
    *,
    account_id: str,
    format: str | None,
    actor: str,
    reason: str,
    tolerance_days: int = DEFAULT_TOLERANCE_DAYS,
) -> list[ImportedStatement]:
    """Import a statement file's bytes as the role of `database_url` (the operator's,
    or the API's reconciler role: it reads the store and the audit log, and appends)."""
    statements = read_statements(data, format)  # every one balanced, or StatementError
    file_sha256 = hashlib.sha256(data).hexdigest()
    app = PaymentsApplication(env=application_env(database_url, pool_size=1, snapshots=False))
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            # Session-level: released by the unlock, or when the connection closes.
            conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, account_id))
            check_account(read_account(conn, account_id), statements)
            facts = reconciliation_facts(app, database_url)
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
            return self._duplicate(existing, statement)
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
        if outcome.duplicate:  # another import stored it first
            stored = find_statement(self.app, outcome.statement_id)
            assert stored is not None
            return self._duplicate(stored, statement)
        opened = tuple(
            OpenedException(x, b.kind, b.amount, str(b.value_date), b.reason, False)
            for x, b in zip(outcome.exception_ids, result.breaks, strict=True)
        )
        counts = {
            "matched_lines": result.matched_lines, "matched_postings": result.matched_postings,
            "unmatched_lines": result.unmatched_lines,
            "unmatched_postings": result.unmatched_postings,
        }  # fmt: skip
        return ImportedStatement(
            outcome.statement_id, statement.bank_statement_id, False, len(statement.lines),
            result, outcome.exception_ids, counts, opened,
        )  # fmt: skip

    def _duplicate(self, existing: StoredStatement, statement: BankStatement) -> ImportedStatement:
        counts = existing.counts | {
            "unmatched_lines": existing.unmatched["lines"],
            "unmatched_postings": existing.unmatched["postings"],
        }
        return ImportedStatement(
            existing.statement_id, statement.bank_statement_id, True, len(statement.lines),
            None, existing.exception_ids, counts,
            _stored_exceptions(self.app, existing.exception_ids),
        )  # fmt: skip
