"""Authorization expiry: which holds expire when, and the sweep that releases them.

`authorize_payment` with `expires_in_seconds` stores `expires_at` (the decision's
time + that) in `Payment.Authorized` and notes the payment in one of `SHARDS`
expiry books (by a hash of its id, so authorizations on different partitions
rarely write the same book). The `expire_authorizations` sweep (payload `as_of`,
payments.tools.schedule) reads every book, and for each payment due at `as_of`
(expires_at ≤ as_of) that still has something authorized releases it: a
`Payment.Expired` with the amount that remained and the payer's `HoldReleased`, as
a void would. Done payments (captured in full, voided) only leave the book. The
decision reads `as_of` and stored dates only, so replaying it gives the same result.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from payments.domain.account import Account
from payments.domain.aggregates import Aggregates
from payments.domain.commands import ParsedCommand, Sweep
from payments.domain.ids import PAYMENTS_NAMESPACE, account_id_to_uuid, payment_id_to_uuid
from payments.domain.payment import Payment
from payments.domain.risk import decision_time

SHARDS = 16


def book_id(shard: int) -> UUID:
    return uuid5(PAYMENTS_NAMESPACE, f"expiry_book:{shard}")


def shard_of(payment_id: str) -> int:
    return hashlib.sha256(payment_id.encode()).digest()[0] % SHARDS


def expiry_text(moment: datetime) -> str:
    return moment.isoformat()


class ExpiryBook(Aggregate):
    """The authorizations of one shard that have an expiry and may still hold money."""

    class Event(Aggregate.Event):
        command_id: str
        actor: str

    class Opened(Aggregate.Created):
        command_id: str
        actor: str
        shard: int

    def __init__(self, command_id: str, actor: str, shard: int) -> None:
        self.shard = shard
        self.due: dict[str, str] = {}  # payment_id -> expires_at (ISO-8601)

    @classmethod
    def open(cls, *, shard: int, command_id: str, actor: str) -> ExpiryBook:
        return cls._create(
            cls.Opened, id=book_id(shard), command_id=command_id, actor=actor, shard=shard
        )

    def enter(self, *, payment_id: str, expires_at: str, command_id: str, actor: str) -> None:
        self.trigger_event(
            self.Entered,
            command_id=command_id,
            actor=actor,
            payment_id=payment_id,
            expires_at=expires_at,
        )

    def remove(self, *, payment_id: str, command_id: str, actor: str) -> None:
        self.trigger_event(self.Removed, command_id=command_id, actor=actor, payment_id=payment_id)

    def due_at(self, as_of: datetime) -> list[str]:
        return sorted(p for p, at in self.due.items() if datetime.fromisoformat(at) <= as_of)

    class Entered(Event):
        payment_id: str
        expires_at: str

        def apply(self, book: ExpiryBook) -> None:
            book.due = {**book.due, self.payment_id: self.expires_at}

    class Removed(Event):
        payment_id: str

        def apply(self, book: ExpiryBook) -> None:
            book.due = {p: at for p, at in book.due.items() if p != self.payment_id}


def expires_at(now: datetime, seconds: int | None) -> str | None:
    return None if seconds is None else expiry_text(now + timedelta(seconds=seconds))


def note_expiry(uow: Aggregates, payment_id: str, expires: str, who: dict[str, str]) -> None:
    """Enter an authorization that expires into its book (opened at first use)."""
    shard = shard_of(payment_id)
    book = uow.get(ExpiryBook, book_id(shard))
    if book is None:
        book = ExpiryBook.open(shard=shard, **who)
        uow.add(book)
    book.enter(payment_id=payment_id, expires_at=expires, **who)


def release_expired(cmd: ParsedCommand, uow: Aggregates, as_of: datetime) -> None:
    """The sweep's work: every due authorization of every book, in a fixed order."""
    who = {"command_id": cmd.command_id, "actor": cmd.actor}
    for shard in range(SHARDS):
        book = uow.get(ExpiryBook, book_id(shard))
        if book is None:
            continue
        for payment_id in book.due_at(as_of):
            payment = uow.get(Payment, payment_id_to_uuid(payment_id))
            if payment is not None and payment.remaining > 0 and not payment.is_voided:
                payer = uow.get(Account, account_id_to_uuid(payment.payer_account))
                assert payer is not None  # accounts are never deleted
                amount = payment.remaining
                payment.expire(amount=amount, **who)
                payer.release_hold(payment_id=payment_id, amount=amount, **who)
            book.remove(payment_id=payment_id, **who)


def expire_authorizations(cmd: ParsedCommand, uow: Aggregates) -> None:
    """The sweep: release every authorization that expired by `payload.as_of`.

    An `as_of` ahead of the decision's time releases only what is due by that time
    (the decision's events are stamped with it), so no issuer can make a hold expire
    early; the `Payment.Expired` events then carry the decision, and a replay folds them.
    """
    p = cmd.payload
    assert isinstance(p, Sweep)
    release_expired(cmd, uow, min(p.as_of, decision_time()))
