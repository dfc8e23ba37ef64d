"""The operator's reconciliation facts, as events: imported statements, their matches,
their exceptions and how those were resolved.

Written by `payments reconcile` with direct access to the event store, as the operator
writes keys and roles (payments.ledger.identities): the engine's command path is not
involved. An import is one `app.record`: the statement, its reconciliation and every
exception it opens are stored in one transaction or not at all, so a crash mid-import
leaves nothing behind and the next run does the whole import. The statement's
aggregate id comes from the account and the statement's fingerprint: a statement
already imported is found and nothing changes; two imports racing collide on the
store's primary key, and the loser reports the winner's import as a duplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from payments.domain.ids import recon_exception_to_uuid, statement_to_uuid
from payments.domain.matching import MatchResult
from payments.domain.reconciliation import ReconciliationException
from payments.domain.statement import BankStatement
from payments.integrations.statements.model import BankStatement as StatementFile
from payments.integrations.statements.model import canonical
from payments.ledger.store import PaymentsApplication

IMPORTED_TOPIC = "payments.domain.statement:BankStatement.Imported"
OPENED_TOPIC = "payments.domain.reconciliation:ReconciliationException.Opened"


class ReconcileError(ValueError):
    """An operator's reconciliation action that cannot be done as asked."""

    code = "invalid_reconciliation"


@dataclass(frozen=True)
class ImportOutcome:
    statement_id: str
    duplicate: bool
    exception_ids: tuple[str, ...]


def statement_id_of(account_id: str, statement: StatementFile) -> str:
    return f"{account_id}:{statement.fingerprint()[:16]}"


def find_statement(app: PaymentsApplication, statement_id: str) -> BankStatement | None:
    found = app.load_many([statement_to_uuid(statement_id)]).get(statement_to_uuid(statement_id))
    return found if isinstance(found, BankStatement) else None


def record_import(
    app: PaymentsApplication,
    *,
    account_id: str,
    statement: StatementFile,
    file_sha256: str,
    result: MatchResult,
    ledger_position: int,
    tolerance_days: int,
    actor: str,
    reason: str,
) -> ImportOutcome:
    """Store the statement, its reconciliation and its exceptions (one transaction)."""
    statement_id = statement_id_of(account_id, statement)
    existing = find_statement(app, statement_id)
    if existing is not None:
        return ImportOutcome(statement_id, True, existing.exception_ids)
    imported = BankStatement.import_statement(
        statement_id=statement_id, command_id=f"operator:statement:{statement_id}",
        actor=actor, reason=reason, account_id=account_id, format=statement.format,
        bank_statement_id=statement.bank_statement_id, bank_account=statement.bank_account,
        currency=statement.currency, opening=statement.opening,
        opening_date=str(statement.opening_date), closing=statement.closing,
        closing_date=str(statement.closing_date), lines=statement.lines_json(),
        fingerprint=statement.fingerprint(), file_sha256=file_sha256,
    )  # fmt: skip
    exceptions = []
    for number, found in enumerate(result.breaks, start=1):
        exception_id = f"{statement_id}:{number}"
        exceptions.append(ReconciliationException.open(
            exception_id=exception_id, command_id=f"operator:exception:{exception_id}",
            actor=actor, reason=found.reason, statement_id=statement_id,
            account_id=account_id, currency=statement.currency, kind=found.kind,
            lines=" ".join(map(str, found.lines)), postings=" ".join(found.postings),
            amount=found.amount, value_date=str(found.value_date),
        ))  # fmt: skip
    matches = [
        {"rule": m.rule, "lines": list(m.lines), "postings": list(m.postings),
         "difference": m.difference}
        for m in result.matches
    ]  # fmt: skip
    exception_ids = tuple(x.exception_id for x in exceptions)
    imported.reconcile(
        matches=canonical(matches), matched_lines=result.matched_lines,
        matched_postings=result.matched_postings, unmatched_lines=result.unmatched_lines,
        unmatched_postings=result.unmatched_postings, exceptions=" ".join(exception_ids),
        ledger_position=ledger_position, date_tolerance_days=tolerance_days,
        command_id=f"operator:reconcile:{statement_id}", actor=actor, reason=reason,
    )  # fmt: skip
    events = imported.collect_events()
    for exception in exceptions:
        events += exception.collect_events()
    try:
        app.record(events)
    except IntegrityError:
        if find_statement(app, statement_id) is None:
            raise
        return ImportOutcome(statement_id, True, exception_ids)
    return ImportOutcome(statement_id, False, exception_ids)


def resolve_exception(
    app: PaymentsApplication, *, exception_id: str, reason: str, actor: str
) -> ReconciliationException:
    """Resolve an open exception with the operator's reason (AlreadyResolved if it is not)."""
    if not reason.strip():
        raise ReconcileError("a resolution needs a reason (--reason), for the audit log")
    aggregate_id = recon_exception_to_uuid(exception_id)
    found = app.load_many([aggregate_id]).get(aggregate_id)
    if not isinstance(found, ReconciliationException):
        raise ReconcileError(f"no reconciliation exception {exception_id}")
    found.resolve(
        reason=reason.strip(),
        command_id=f"operator:resolve:{exception_id}:v{found.version + 1}",
        actor=actor,
    )
    app.record(found.collect_events())
    return found


@dataclass(frozen=True)
class Facts:
    statements: list[BankStatement]
    exceptions: list[ReconciliationException]

    def matched_postings(self, account_id: str) -> set[str]:
        return {
            posting
            for s in self.statements
            if s.account_id == account_id
            for m in json.loads(s.matches)
            for posting in m["postings"]
        }

    def reported_postings(self, account_id: str) -> set[str]:
        """Postings an exception already names as on no statement line."""
        return {
            posting
            for x in self.exceptions
            if x.account_id == account_id and x.kind == "unmatched_posting"
            for posting in x.postings.split()
        }


def reconciliation_facts(app: PaymentsApplication, database_url: str) -> Facts:
    """Every imported statement and every exception (a scan of the store by topic: an
    operator's report, not a hot path)."""
    import psycopg

    from payments.contract.tables import EVENTS_TABLE

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT originator_id FROM {EVENTS_TABLE} WHERE topic = ANY(%s)"
            " ORDER BY notification_id",
            ([IMPORTED_TOPIC, OPENED_TOPIC],),
        ).fetchall()
    loaded = app.load_many([UUID(str(row[0])) for row in rows])
    ordered = [loaded[UUID(str(row[0]))] for row in rows if UUID(str(row[0])) in loaded]
    return Facts(
        [x for x in ordered if isinstance(x, BankStatement)],
        [x for x in ordered if isinstance(x, ReconciliationException)],
    )
