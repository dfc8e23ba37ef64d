"""A bank statement imported for one external account, and how it was reconciled.

`BankStatement.Imported` keeps what the statement says and nothing personal (amounts in
signed minor units, dates, the bank's references: payments.integrations.statements);
its id is the account and the statement's fingerprint (`statement_id`), so the same
statement imported twice is one aggregate and the second import changes nothing.
`BankStatement.Reconciled` records the matches the import found against the ledger
(payments.domain.matching), each with the rule that made it, and the exceptions it
opened (payments.domain.reconciliation). Both are written by the operator's
`payments reconcile import` in one transaction, with its actor and reason.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from payments.domain.ids import statement_to_uuid


class BankStatement(Aggregate):
    class Imported(Aggregate.Created):
        command_id: str
        actor: str
        reason: str
        statement_id: str
        account_id: str
        format: str
        bank_statement_id: str
        bank_account: str
        currency: str
        opening: int
        opening_date: str
        closing: int
        closing_date: str
        lines: str
        fingerprint: str
        file_sha256: str

    def __init__(
        self,
        command_id: str,
        actor: str,
        reason: str,
        statement_id: str,
        account_id: str,
        format: str,
        bank_statement_id: str,
        bank_account: str,
        currency: str,
        opening: int,
        opening_date: str,
        closing: int,
        closing_date: str,
        lines: str,
        fingerprint: str,
        file_sha256: str,
    ) -> None:
        self.statement_id = statement_id
        self.account_id = account_id
        self.format = format
        self.bank_statement_id = bank_statement_id
        self.bank_account = bank_account
        self.currency = currency
        self.opening, self.opening_date = opening, opening_date
        self.closing, self.closing_date = closing, closing_date
        self.lines = lines
        self.fingerprint = fingerprint
        self.file_sha256 = file_sha256
        self.imported_by = actor
        self.matches = "[]"
        self.exception_ids: tuple[str, ...] = ()
        self.reconciled = False
        self.counts = {"matched_lines": 0, "matched_postings": 0}
        self.unmatched = {"lines": 0, "postings": 0}

    @classmethod
    def import_statement(cls, *, statement_id: str, **fields: object) -> BankStatement:
        return cls._create(
            cls.Imported, id=statement_to_uuid(statement_id), statement_id=statement_id, **fields
        )

    @event("Reconciled")
    def reconcile(
        self,
        *,
        matches: str,
        matched_lines: int,
        matched_postings: int,
        unmatched_lines: int,
        unmatched_postings: int,
        exceptions: str,
        ledger_position: int,
        date_tolerance_days: int,
        command_id: str,
        actor: str,
        reason: str,
    ) -> None:
        self.matches = matches
        self.counts = {"matched_lines": matched_lines, "matched_postings": matched_postings}
        self.unmatched = {"lines": unmatched_lines, "postings": unmatched_postings}
        self.exception_ids = tuple(exceptions.split())
        self.reconciled = True
