"""KYC/AML screening of an account holder: requested, answered, escalated, resolved.

    pending ──result clear──▶ cleared
       └────result hit────▶ flagged ──escalate──▶ escalated ──resolve──▶ cleared | confirmed

- `request_screening` (compliance): a holder (`holder_id`, a reference to personal
  data kept elsewhere: `subject_ref`) and the holder's accounts → `Screening.Requested`.
- `record_screening_result` (the provider's principal, role `screening`): `clear` →
  `Screening.Cleared`; `hit` with a score and the watch-list entries matched →
  `Screening.Flagged`. payments.integrations.screening answers with a local,
  deterministic screener for the demo and the tests.
- `escalate_screening` (compliance) → `Screening.Escalated`.
- `resolve_screening` (compliance): `cleared` → `Screening.Cleared`, `confirmed` →
  `Screening.Confirmed`, and every account of the holder not frozen yet is frozen
  (`Account.Frozen`, case_ref the screening id): it still receives, sends nothing.

Every step is an event with its actor (the command's) and its reason. A step from the
wrong state is `invalid_screening_state`; an unknown screening `screening_not_found`,
a known id requested again `screening_exists`.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from payments.domain.account import Account
from payments.domain.aggregates import Aggregates
from payments.domain.commands import (
    EscalateScreening,
    ParsedCommand,
    RecordScreeningResult,
    RequestScreening,
    ResolveScreening,
)
from payments.domain.errors import (
    AccountNotFound,
    InvalidScreeningState,
    ScreeningExists,
    ScreeningNotFound,
)
from payments.domain.ids import PAYMENTS_NAMESPACE, account_id_to_uuid


def screening_id_to_uuid(screening_id: str) -> UUID:
    return uuid5(PAYMENTS_NAMESPACE, f"screening:{screening_id}")


class Screening(Aggregate):
    class Event(Aggregate.Event):
        command_id: str
        actor: str

    class Requested(Aggregate.Created):
        command_id: str
        actor: str
        screening_id: str
        holder_id: str
        account_ids: str  # space-separated
        subject_ref: str

    def __init__(
        self,
        command_id: str,
        actor: str,
        screening_id: str,
        holder_id: str,
        account_ids: str,
        subject_ref: str,
    ) -> None:
        self.screening_id = screening_id
        self.holder_id = holder_id
        self.account_ids = account_ids.split()
        self.status = "pending"

    @classmethod
    def request(cls, *, p: RequestScreening, command_id: str, actor: str) -> Screening:
        return cls._create(
            cls.Requested,
            id=screening_id_to_uuid(p.screening_id),
            command_id=command_id,
            actor=actor,
            screening_id=p.screening_id,
            holder_id=p.holder_id,
            account_ids=" ".join(p.account_ids),
            subject_ref=p.subject_ref,
        )

    def check_status(self, *wanted: str, step: str) -> None:
        if self.status not in wanted:
            raise InvalidScreeningState(
                f"screening {self.screening_id} is {self.status}; {step} needs it "
                + " or ".join(wanted)
            )

    def record(self, event: type[Event], command_id: str, actor: str, **fields: object) -> None:
        self.trigger_event(event, command_id=command_id, actor=actor, **fields)

    class Cleared(Event):
        reason: str

        def apply(self, screening: Screening) -> None:
            screening.status = "cleared"

    class Flagged(Event):
        score: int
        matches: str  # space-separated watch-list entries
        reason: str

        def apply(self, screening: Screening) -> None:
            screening.status = "flagged"

    class Escalated(Event):
        reason: str

        def apply(self, screening: Screening) -> None:
            screening.status = "escalated"

    class Confirmed(Event):
        reason: str

        def apply(self, screening: Screening) -> None:
            screening.status = "confirmed"


# --- handlers ------------------------------------------------------------------------


def _screening(uow: Aggregates, screening_id: str) -> Screening:
    screening = uow.get(Screening, screening_id_to_uuid(screening_id))
    if screening is None:
        raise ScreeningNotFound(f"screening {screening_id} does not exist")
    return screening


def request_screening(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, RequestScreening)
    if uow.get(Screening, screening_id_to_uuid(p.screening_id)) is not None:
        raise ScreeningExists(f"screening {p.screening_id} already exists")
    for account_id in p.account_ids:
        account = uow.get(Account, account_id_to_uuid(account_id))
        if account is None:
            raise AccountNotFound(f"account_ids: {account_id} does not exist")
        account.check_open()
    uow.add(Screening.request(p=p, command_id=cmd.command_id, actor=cmd.actor))


def record_screening_result(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, RecordScreeningResult)
    screening = _screening(uow, p.screening_id)
    screening.check_status("pending", step="a result")
    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    if p.result == "clear":
        screening.record(Screening.Cleared, reason=p.reason, **who)
    else:
        matches = " ".join(p.matches)
        screening.record(Screening.Flagged, score=p.score, matches=matches, reason=p.reason, **who)


def escalate_screening(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, EscalateScreening)
    screening = _screening(uow, p.screening_id)
    screening.check_status("flagged", step="escalating")
    screening.record(
        Screening.Escalated, reason=p.reason, command_id=cmd.command_id, actor=cmd.actor
    )


def resolve_screening(cmd: ParsedCommand, uow: Aggregates) -> None:
    p = cmd.payload
    assert isinstance(p, ResolveScreening)
    screening = _screening(uow, p.screening_id)
    screening.check_status("escalated", step="resolving")
    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    if p.outcome == "cleared":
        screening.record(Screening.Cleared, reason=p.reason, **who)
        return
    accounts = [uow.get(Account, account_id_to_uuid(a)) for a in screening.account_ids]
    screening.record(Screening.Confirmed, reason=p.reason, **who)
    for account in accounts:
        if account is not None and not account.frozen:  # accounts are never deleted
            account.freeze(reason=p.reason, case_ref=screening.screening_id, **who)
