"""Transfer: the record that a transfer id was used (the money moves on the accounts).

A transfer a risk rule sends to review (payments.domain.review) is created
`HeldForReview` instead of `Recorded`: the amount is held on the source, and the
review's `Approved` posts it or its `Declined` releases it. Either way the transfer id
is used, so sending it again is `transfer_exists`.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from payments.domain.creation import CreatedQuickly, create
from payments.domain.errors import ReviewClosed
from payments.domain.ids import transfer_id_to_uuid


class Transfer(Aggregate):
    # Class defaults: transfers stored before reviews existed load with them.
    review: str = ""  # "", or "pending", "approved", "declined"
    review_rule: str = ""

    class Event(Aggregate.Event):
        command_id: str
        actor: str

    class Recorded(CreatedQuickly, Aggregate.Created):
        command_id: str
        actor: str
        transfer_id: str
        from_account: str
        to_account: str
        amount: int
        currency: str

    def __init__(
        self,
        command_id: str,
        actor: str,
        transfer_id: str,
        from_account: str,
        to_account: str,
        amount: int,
        currency: str,
        rule_id: str = "",
        rules_version: int = 0,
        finding: str = "",
    ) -> None:
        self.transfer_id = transfer_id
        self.from_account = from_account
        self.to_account = to_account
        self.amount = amount
        self.currency = currency
        if rule_id:
            self.review = "pending"
            self.review_rule = f"{rule_id} (risk rules v{rules_version})"

    @classmethod
    def record(
        cls,
        *,
        transfer_id: str,
        from_account: str,
        to_account: str,
        amount: int,
        currency: str,
        command_id: str,
        actor: str,
    ) -> Transfer:
        return create(
            cls,
            cls.Recorded,
            transfer_id_to_uuid(transfer_id),
            command_id=command_id,
            actor=actor,
            transfer_id=transfer_id,
            from_account=from_account,
            to_account=to_account,
            amount=amount,
            currency=currency,
        )

    @classmethod
    def hold_for_review(
        cls,
        *,
        transfer_id: str,
        from_account: str,
        to_account: str,
        amount: int,
        currency: str,
        rule_id: str,
        rules_version: int,
        finding: str,
        command_id: str,
        actor: str,
    ) -> Transfer:
        return cls._create(
            cls.HeldForReview,
            id=transfer_id_to_uuid(transfer_id),
            command_id=command_id,
            actor=actor,
            transfer_id=transfer_id,
            from_account=from_account,
            to_account=to_account,
            amount=amount,
            currency=currency,
            rule_id=rule_id,
            rules_version=rules_version,
            finding=finding,
        )

    def check_in_review(self) -> None:
        if self.review != "pending":
            state = self.review or "posted without review"
            raise ReviewClosed(f"transfer {self.transfer_id} is not in review ({state})")

    def approve(self, *, note: str, command_id: str, actor: str) -> None:
        self.trigger_event(self.Approved, command_id=command_id, actor=actor, note=note)

    def decline(self, *, note: str, command_id: str, actor: str) -> None:
        self.trigger_event(self.Declined, command_id=command_id, actor=actor, note=note)

    class HeldForReview(Aggregate.Created):
        command_id: str
        actor: str
        transfer_id: str
        from_account: str
        to_account: str
        amount: int
        currency: str
        rule_id: str
        rules_version: int
        finding: str

    class Approved(Event):
        note: str

        def apply(self, transfer: Transfer) -> None:
            transfer.review = "approved"

    class Declined(Event):
        note: str

        def apply(self, transfer: Transfer) -> None:
            transfer.review = "declined"
