"""Transfer: the record that a transfer id was used (the money moves on the accounts)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from payments.domain.ids import transfer_id_to_uuid


class Transfer(Aggregate):
    class Recorded(Aggregate.Created):
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
    ) -> None:
        self.transfer_id = transfer_id
        self.from_account = from_account
        self.to_account = to_account
        self.amount = amount
        self.currency = currency

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
        return cls._create(
            cls.Recorded,
            id=transfer_id_to_uuid(transfer_id),
            command_id=command_id,
            actor=actor,
            transfer_id=transfer_id,
            from_account=from_account,
            to_account=to_account,
            amount=amount,
            currency=currency,
        )
