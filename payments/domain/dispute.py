"""Dispute: a card network's (or provider's) dispute of a captured payment.

The lifecycle follows the networks' and Stripe's model (docs/contract.md, "Disputes"):

    open ──▶ needs_response ──evidence──▶ under_review ──propose + approve──▶ won | lost
                  │  └──accept (merchant)──▶ lost                │
                  └──due date passed, no evidence (sweep)──▶ lost └──accept──▶ lost

Opening withdraws the amount from the merchant at once (forced) into the disputes
account, and the dispute fee, if the pricing given at opening has one, into the fees
account. Won: the amount goes back to the merchant (and the fee, if the pricing
refunds it); lost: the amount goes to the payer, the fee stays. The postings are on
the accounts; this aggregate keeps the case: its state, evidence, the proposal and
who made it. A resolution takes two people: one principal proposes it, another
approves it (`proposer_cannot_approve`).

`DisputeCalendar` (one per store) remembers the evidence due dates of the disputes
opened, so the `expire_disputes` sweep finds the ones due without a query; an entry
leaves it when a sweep passes its date.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate

from payments.domain.errors import (
    EvidencePastDue,
    InvalidDisputeState,
    ProposerCannotApprove,
    ResolutionNotProposed,
)
from payments.domain.ids import DISPUTE_CALENDAR_ID, dispute_id_to_uuid
from payments.domain.sweeps import as_of_text

NEEDS_RESPONSE, UNDER_REVIEW, WON, LOST = "needs_response", "under_review", "won", "lost"
DECIDED = frozenset({WON, LOST})


class Dispute(Aggregate):
    class Event(Aggregate.Event):
        command_id: str
        actor: str

    class Opened(Aggregate.Created):
        command_id: str
        actor: str
        dispute_id: str
        payment_id: str
        merchant_account: str
        payer_account: str
        disputes_account: str
        fees_account: str
        currency: str
        amount: int
        fee: int
        fee_refunded_if_won: bool
        reason_code: str
        network: str
        evidence_due_by: str

    def __init__(
        self,
        command_id: str,
        actor: str,
        dispute_id: str,
        payment_id: str,
        merchant_account: str,
        payer_account: str,
        disputes_account: str,
        fees_account: str,
        currency: str,
        amount: int,
        fee: int,
        fee_refunded_if_won: bool,
        reason_code: str,
        network: str,
        evidence_due_by: str,
    ) -> None:
        self.dispute_id = dispute_id
        self.payment_id = payment_id
        self.merchant_account = merchant_account
        self.payer_account = payer_account
        self.disputes_account = disputes_account
        self.fees_account = fees_account
        self.currency = currency
        self.amount = amount
        self.fee = fee
        self.fee_refunded_if_won = fee_refunded_if_won
        self.reason_code = reason_code
        self.network = network
        self.evidence_due_by = datetime.fromisoformat(evidence_due_by)
        self.status = NEEDS_RESPONSE
        self.evidence_count = 0
        self.proposed_outcome = ""
        self.proposed_by = ""

    @classmethod
    def open(cls, *, evidence_due_by: datetime, **fields: object) -> Dispute:
        return cls._create(
            cls.Opened,
            id=dispute_id_to_uuid(str(fields["dispute_id"])),
            evidence_due_by=as_of_text(evidence_due_by),
            **fields,
        )

    @property
    def fee_refund(self) -> int:
        """What winning gives back of the fee, per the pricing given at opening."""
        return self.fee if self.fee_refunded_if_won else 0

    # --- guards ---------------------------------------------------------------------

    def check_undecided(self, what: str) -> None:
        if self.status in DECIDED:
            raise InvalidDisputeState(f"dispute {self.dispute_id} was {self.status}; cannot {what}")

    def check_can_take_evidence(self, now: datetime) -> None:
        self.check_undecided("submit evidence")
        if self.proposed_outcome:
            raise InvalidDisputeState(
                f"dispute {self.dispute_id} has a resolution proposed ({self.proposed_outcome}); "
                "evidence is closed"
            )
        if now > self.evidence_due_by:
            raise EvidencePastDue(
                f"dispute {self.dispute_id}: evidence was due by {as_of_text(self.evidence_due_by)}"
            )

    def check_can_propose(self) -> None:
        self.check_undecided("propose a resolution")
        if self.status != UNDER_REVIEW:
            raise InvalidDisputeState(
                f"dispute {self.dispute_id} has no evidence yet; a resolution is proposed "
                "once it is under review (without evidence it is accepted or expires)"
            )

    def check_can_approve(self, outcome: str, approver: str) -> None:
        self.check_undecided("approve a resolution")
        if not self.proposed_outcome:
            raise ResolutionNotProposed(f"dispute {self.dispute_id} has no proposed resolution")
        if outcome != self.proposed_outcome:
            raise ResolutionNotProposed(
                f"dispute {self.dispute_id}: the proposed resolution is {self.proposed_outcome} "
                f"(by {self.proposed_by}), not {outcome}"
            )
        if approver == self.proposed_by:
            raise ProposerCannotApprove(
                f"dispute {self.dispute_id}: {approver} proposed this resolution; "
                "another principal must approve it"
            )

    def is_expired(self, as_of: datetime) -> bool:
        return self.status == NEEDS_RESPONSE and self.evidence_due_by <= as_of

    # --- mutators -------------------------------------------------------------------

    def submit_evidence(self, *, text: str, documents: str, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.EvidenceSubmitted,
            command_id=command_id,
            actor=actor,
            dispute_id=self.dispute_id,
            text=text,
            documents=documents,
        )

    def propose(self, *, outcome: str, note: str, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.ResolutionProposed,
            command_id=command_id,
            actor=actor,
            dispute_id=self.dispute_id,
            outcome=outcome,
            note=note,
        )

    def win(self, *, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Won,
            command_id=command_id,
            actor=actor,
            dispute_id=self.dispute_id,
            cause="approved",
            proposed_by=self.proposed_by,
        )

    def lose(self, *, cause: str, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Lost,
            command_id=command_id,
            actor=actor,
            dispute_id=self.dispute_id,
            cause=cause,
            proposed_by=self.proposed_by if cause == "approved" else "",
        )

    # --- events ---------------------------------------------------------------------

    class EvidenceSubmitted(Event):
        dispute_id: str
        text: str
        documents: str  # space-separated document references

        def apply(self, dispute: Dispute) -> None:
            dispute.status = UNDER_REVIEW
            dispute.evidence_count += 1

    class ResolutionProposed(Event):
        dispute_id: str
        outcome: str
        note: str

        def apply(self, dispute: Dispute) -> None:
            dispute.proposed_outcome = self.outcome
            dispute.proposed_by = self.actor

    class Won(Event):
        dispute_id: str
        cause: str
        proposed_by: str

        def apply(self, dispute: Dispute) -> None:
            dispute.status = WON

    class Lost(Event):
        dispute_id: str
        cause: str  # approved, accepted (by the merchant) or expired (no evidence in time)
        proposed_by: str

        def apply(self, dispute: Dispute) -> None:
            dispute.status = LOST


class DisputeCalendar(Aggregate):
    """The evidence due dates of opened disputes, until a sweep passes them."""

    class Event(Aggregate.Event):
        command_id: str
        actor: str

    class Started(Aggregate.Created):
        command_id: str
        actor: str

    def __init__(self, command_id: str, actor: str) -> None:
        self.due: dict[str, datetime] = {}

    @classmethod
    def start(cls, *, command_id: str, actor: str) -> DisputeCalendar:
        return cls._create(cls.Started, id=DISPUTE_CALENDAR_ID, command_id=command_id, actor=actor)

    def due_by(self, as_of: datetime) -> list[str]:
        """The disputes whose due date is at or before `as_of`, earliest first."""
        due = [(at, dispute_id) for dispute_id, at in self.due.items() if at <= as_of]
        return [dispute_id for _, dispute_id in sorted(due)]

    def schedule(
        self, *, dispute_id: str, evidence_due_by: datetime, command_id: str, actor: str
    ) -> None:
        self.trigger_event(
            self.Scheduled,
            command_id=command_id,
            actor=actor,
            dispute_id=dispute_id,
            evidence_due_by=as_of_text(evidence_due_by),
        )

    def sweep(
        self, *, as_of: datetime, dispute_ids: list[str], command_id: str, actor: str
    ) -> None:
        self.trigger_event(
            self.Swept,
            command_id=command_id,
            actor=actor,
            as_of=as_of_text(as_of),
            dispute_ids=" ".join(dispute_ids),
        )

    class Scheduled(Event):
        dispute_id: str
        evidence_due_by: str

        def apply(self, calendar: DisputeCalendar) -> None:
            calendar.due[self.dispute_id] = datetime.fromisoformat(self.evidence_due_by)

    class Swept(Event):
        as_of: str
        dispute_ids: str  # space-separated: the entries this sweep passed

        def apply(self, calendar: DisputeCalendar) -> None:
            for dispute_id in self.dispute_ids.split():
                calendar.due.pop(dispute_id, None)
