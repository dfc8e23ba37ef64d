"""`Aggregates`: what a command handler reads and creates (the ledger's batch working set).

Its own module so that the handlers of payments.domain.handlers and the modules it
registers handlers from (controls, expiry, review, screening, dispute_handlers) share
it, and the lookups every handler starts with, without importing each other.
"""

from __future__ import annotations

from typing import Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from payments.domain.account import Account
from payments.domain.errors import AccountNotFound, PaymentNotFound
from payments.domain.ids import account_id_to_uuid, payment_id_to_uuid
from payments.domain.payment import Payment
from payments.domain.personal_data import HolderKeys

A = TypeVar("A", bound=Aggregate)


class Aggregates(Protocol):
    """The aggregates a command may read and the new ones it creates."""

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None: ...

    def add(self, aggregate: Aggregate) -> None: ...

    def holder_keys(self) -> HolderKeys:
        """The holders' data keys, saved with the batch (payments.domain.holder)."""
        ...


def account_of(
    uow: Aggregates, account_id: str, role: str = "account", *, must_be_open: bool = True
) -> Account:
    """The named account (`account_not_found`), open unless `must_be_open` is False
    (`account_closed`): money owed to a closed account is credited all the same."""
    account = uow.get(Account, account_id_to_uuid(account_id))
    if account is None:
        raise AccountNotFound(f"{role} {account_id} does not exist")
    if must_be_open:
        account.check_open()
    return account


def payment_of(uow: Aggregates, payment_id: str) -> Payment:
    payment = uow.get(Payment, payment_id_to_uuid(payment_id))
    if payment is None:
        raise PaymentNotFound(f"payment {payment_id} does not exist")
    return payment
