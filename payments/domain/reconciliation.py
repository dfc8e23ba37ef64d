"""An exception of a reconciliation: what did not match, and how an operator closed it.

Opened by `payments reconcile import` when a statement line finds no posting, a posting
in the statement's period finds no line, or lines and postings match by reference with
different amounts (`kind`: unmatched_line, unmatched_posting, amount_difference; `amount`
in minor units, signed as the bank sees it: the line's amount, minus the posting's for
a difference). Resolved once, by an operator's `payments reconcile resolve` with a
reason: an audited event, never an edit of a table. A second resolve is refused.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from payments.domain.ids import recon_exception_to_uuid

EXCEPTION_KINDS = ("unmatched_line", "unmatched_posting", "amount_difference")


class AlreadyResolved(ValueError):
    code = "exception_already_resolved"


class ReconciliationException(Aggregate):
    class Opened(Aggregate.Created):
        command_id: str
        actor: str
        reason: str
        exception_id: str
        statement_id: str
        account_id: str
        currency: str
        kind: str
        lines: str
        postings: str
        amount: int
        value_date: str

    def __init__(
        self,
        command_id: str,
        actor: str,
        reason: str,
        exception_id: str,
        statement_id: str,
        account_id: str,
        currency: str,
        kind: str,
        lines: str,
        postings: str,
        amount: int,
        value_date: str,
    ) -> None:
        self.exception_id = exception_id
        self.statement_id = statement_id
        self.account_id = account_id
        self.currency = currency
        self.kind = kind
        self.why = reason
        self.lines = lines
        self.postings = postings
        self.amount = amount
        self.value_date = value_date
        self.resolved = False
        self.resolved_by = ""
        self.resolution = ""

    @classmethod
    def open(cls, *, exception_id: str, **fields: object) -> ReconciliationException:
        return cls._create(
            cls.Opened, id=recon_exception_to_uuid(exception_id), exception_id=exception_id,
            **fields,
        )  # fmt: skip

    def check_open(self) -> None:
        if self.resolved:
            raise AlreadyResolved(
                f"exception {self.exception_id} was resolved by {self.resolved_by}: "
                f"{self.resolution}"
            )

    def resolve(self, *, reason: str, command_id: str, actor: str) -> None:
        self.check_open()
        self._resolve(reason=reason, command_id=command_id, actor=actor)

    @event("Resolved")
    def _resolve(self, *, reason: str, command_id: str, actor: str) -> None:
        self.resolved = True
        self.resolved_by = actor
        self.resolution = reason
